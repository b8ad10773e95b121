"""Counted limits shared by every process through the cache (CACHE_URL): hits per window, keyed
by what is being protected (a pay-now link, a customer, a client address)."""

import hashlib
import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from integrations.kernel.errors import RateLimited

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_address(request) -> str:
    """The client's address as the trusted proxies saw it (TRUSTED_PROXY_COUNT, DRF's NUM_PROXIES)."""
    return BaseThrottle().get_ident(request)


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate syntax: "5/hour" -> (5, 3600)."""
    count, period = rate.split("/")
    return int(count), _UNITS[period.strip()[0]]


def rate_limit_hit(scope: str, ident: str, rate: str) -> int | None:
    """Count one hit in the current window; the seconds until it ends when over the limit."""
    limit, window = parse_rate(rate)
    now = int(time.time())
    start = now - now % window
    key = f"rl:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}:{start}"
    cache.add(key, 0, timeout=window + 1)
    try:
        hits = cache.incr(key)
    except ValueError:  # evicted between add and incr: this hit starts the window again
        cache.add(key, 1, timeout=window + 1)
        hits = 1
    return start + window - now if hits > limit else None


def rate_limit(scope: str, ident: str, rate: str, *, message: str) -> None:
    """Count one try; refuse it (429 with Retry-After) past the rate."""
    wait = rate_limit_hit(scope, ident, rate)
    if wait is not None:
        raise RateLimited(message, retry_after=wait)
