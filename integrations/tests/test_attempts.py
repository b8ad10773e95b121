"""The kernel's failed-attempt counter: rates in DRF's syntax, fixed windows in the cache, attempts
reserved first and given back unless they failed; the client address as the throttles see it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from integrations.kernel.api.addresses import client_address
from integrations.kernel.attempts import AttemptLimit, attempt_rate_parse, attempt_reserve
from integrations.kernel.errors import RateLimited

NOW = datetime(2027, 3, 1, 10, 20, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _limit(ident="cus_1", count=2, seconds=3600) -> AttemptLimit:
    return AttemptLimit(scope="test", ident=ident, count=count, seconds=seconds)


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("20/hour", (20, 3600)), ("100/h", (100, 3600)), ("5/minute", (5, 60)), ("1/day", (1, 86400)), ("3/s", (3, 1))],
)
def test_rates_are_read_in_drfs_syntax(rate, parsed):
    assert attempt_rate_parse(rate, setting="X") == parsed


@pytest.mark.parametrize("rate", [None, ""])
def test_no_rate_is_no_limit(rate):
    assert attempt_rate_parse(rate, setting="X") is None


@pytest.mark.parametrize("rate", ["20", "twenty/hour", "20/fortnight", "0/hour", "-1/hour"])
def test_a_bad_rate_names_its_setting(rate):
    with pytest.raises(ImproperlyConfigured, match="COUPON_FAILED_ATTEMPTS_PER_CUSTOMER"):
        attempt_rate_parse(rate, setting="COUPON_FAILED_ATTEMPTS_PER_CUSTOMER")


def test_failed_attempts_count_until_the_limit_then_429_until_the_window_ends(clock):
    limit = _limit()
    attempt_reserve([limit], message="slow down")
    attempt_reserve([limit], message="slow down")

    with pytest.raises(RateLimited) as refused:
        attempt_reserve([limit], message="slow down")

    assert (refused.value.http_status, refused.value.code, refused.value.message) == (429, "rate_limited", "slow down")
    assert refused.value.retry_after == 39 * 60 + 30  # to 11:00:00
    clock.shift(timedelta(seconds=refused.value.retry_after))
    attempt_reserve([limit], message="slow down")


def test_a_released_attempt_does_not_count():
    limit = _limit()
    for _ in range(5):
        attempt_reserve([limit], message="m").release()

    attempt_reserve([limit], message="m")
    attempt_reserve([limit], message="m")
    with pytest.raises(RateLimited):
        attempt_reserve([limit], message="m")


def test_a_refused_attempt_is_given_back_on_every_limit():
    tight, loose = _limit(ident="198.51.100.1", count=1), _limit(ident="cus_2", count=10)
    attempt_reserve([tight, loose], message="m")
    for _ in range(4):
        with pytest.raises(RateLimited):
            attempt_reserve([tight, loose], message="m")

    # cus_2 has used one attempt, not five: nine more from another address.
    for _ in range(9):
        attempt_reserve([_limit(ident="198.51.100.2", count=100), loose], message="m")
    with pytest.raises(RateLimited):
        attempt_reserve([loose], message="m")


def test_a_release_after_the_window_ended_touches_nothing_of_the_next(clock):
    limit = _limit(count=1)
    reservation = attempt_reserve([limit], message="m")
    clock.shift(timedelta(hours=1))
    attempt_reserve([limit], message="m")

    reservation.release()  # its key has expired: nothing to take back, no error

    with pytest.raises(RateLimited):
        attempt_reserve([limit], message="m")


def test_keys_are_safe_for_any_cache_whatever_the_ident():
    attempt_reserve([_limit(ident="2001:db8::1 with spaces\n" * 20)], message="m")

    keys = list(cache._cache)  # locmem: the keys as stored
    assert len(keys) == 1 and " " not in keys[0] and len(keys[0]) < 100


def test_the_client_address_is_remote_addr_when_no_proxy_is_trusted(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert client_address(request) == "10.0.0.1"


def test_the_client_address_is_the_forwarded_one_num_proxies_trusts(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.4, 203.0.113.9")

    assert client_address(request) == "203.0.113.9"
