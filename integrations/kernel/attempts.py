"""Attempts that may fail (a guessed coupon code, ...) counted per key in Django's cache, in fixed
windows, so that every process sharing the cache (CACHE_URL) stops a guesser at the same count.

An attempt is reserved before it is made (an atomic cache.add + cache.incr) and given back unless
it failed: under concurrency no more than `count` failures per window ever get through.
"""

import contextlib
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from integrations.kernel.errors import RateLimited

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class AttemptLimit:
    """At most `count` failed attempts per `seconds` for one `ident` (a customer, an address) in `scope`."""

    scope: str
    ident: str
    count: int
    seconds: int

    def _window(self, now: float) -> int:
        return int(now) // self.seconds

    def _key(self, now: float) -> str:
        # Hashed: an address or id of any shape makes a safe cache key (memcached forbids spaces).
        digest = hashlib.sha256(self.ident.encode()).hexdigest()[:32]
        return f"attempts:{self.scope}:{digest}:{self._window(now)}"

    def _seconds_left(self, now: float) -> int:
        return (self._window(now) + 1) * self.seconds - int(now)


def attempt_rate_parse(rate: str | None, *, setting: str) -> tuple[int, int] | None:
    """DRF's rate syntax, "20/hour" (second, minute, hour, day) -> (20, 3600); empty = no limit."""
    if not rate:
        return None
    count, _, period = str(rate).partition("/")
    try:
        parsed = int(count), _PERIODS[period.strip()[:1].lower()]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f'{setting} is "N/second", "N/minute", "N/hour" or "N/day", not {rate!r}.') from None
    if parsed[0] < 1:
        raise ImproperlyConfigured(f"{setting} allows at least one attempt.")
    return parsed


def _incr(key: str, timeout: int) -> int:
    for _ in range(3):
        cache.add(key, 0, timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: open it again
            continue
    raise RuntimeError(f"The cache would not count {key}.")


def _decr(key: str) -> None:
    with contextlib.suppress(ValueError):  # the window has passed meanwhile
        cache.decr(key)


@dataclass(frozen=True)
class Reservation:
    """One attempt counted against its limits' windows; `release()` if it did not fail."""

    keys: tuple[str, ...]

    def release(self) -> None:
        for key in self.keys:
            _decr(key)


def attempt_limit(scope: str, ident: str, rate: str, *, setting: str) -> list[AttemptLimit]:
    """The limit a rate setting gives for one ident: none when the setting is empty."""
    parsed = attempt_rate_parse(rate, setting=setting)
    return [AttemptLimit(scope, ident, *parsed)] if parsed else []


def attempt_reserve(limits: Sequence[AttemptLimit], *, message: str) -> Reservation:
    """Count one attempt against every limit; where one is past its count, give them all back and
    raise RateLimited (429) with the seconds until that window ends."""
    now = time.time()
    reservation = Reservation(keys=tuple(limit._key(now) for limit in limits))
    blocked = [
        limit
        for limit, key in zip(limits, reservation.keys, strict=True)
        if _incr(key, limit._seconds_left(now) + 1) > limit.count
    ]
    if blocked:
        reservation.release()
        raise RateLimited(message, retry_after=max(limit._seconds_left(now) for limit in blocked))
    return reservation
