"""Guessing codes is slow: failed code attempts (an unknown or malformed code, at validate, redeem or
checkout) are counted per customer and per client address, and past
COUPON_FAILED_ATTEMPTS_PER_CUSTOMER or ..._PER_ADDRESS every attempt answers 429 until the window
ends, a valid code's too (else the answer would still tell which codes exist)."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from integrations.kernel.attempts import AttemptLimit, attempt_rate_parse, attempt_reserve

NOT_FOUND = "coupon_not_found"
# What the API schema says of the 429.
CODE_ATTEMPTS_LIMITED = (
    "rate_limited: too many unknown codes from this customer (COUPON_FAILED_ATTEMPTS_PER_CUSTOMER) or "
    "client address (..._PER_ADDRESS); every code attempt, a valid one's too, waits Retry-After seconds."
)


@dataclass(frozen=True)
class CodeAttempt:
    """Who is trying a code: a customer, from a client address (None: not over HTTP)."""

    customer_id: str
    address: str | None = None


def _limits(attempt: CodeAttempt) -> list[AttemptLimit]:
    limits = []
    for scope, ident, setting in (
        ("coupon-customer", attempt.customer_id, "COUPON_FAILED_ATTEMPTS_PER_CUSTOMER"),
        ("coupon-address", attempt.address, "COUPON_FAILED_ATTEMPTS_PER_ADDRESS"),
    ):
        rate = attempt_rate_parse(getattr(settings, setting, ""), setting=setting)
        if ident and rate:
            limits.append(AttemptLimit(scope=scope, ident=str(ident), count=rate[0], seconds=rate[1]))
    return limits


@contextlib.contextmanager
def code_attempt(attempt: CodeAttempt | None) -> Iterator[None]:
    """Around a code's lookup: 429 rate_limited once limited; the attempt counts only if the code
    turned out unknown (CouponRefused coupon_not_found)."""
    limits = _limits(attempt) if attempt is not None else []
    if not limits:
        yield
        return
    reservation = attempt_reserve(
        limits, message="Too many wrong coupon codes: try again later (see Retry-After, in seconds)."
    )
    failed = False
    try:
        yield
    except Exception as error:
        failed = getattr(error, "code", None) == NOT_FOUND
        raise
    finally:
        if not failed:
            reservation.release()
