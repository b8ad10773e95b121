"""The billing clock: real time, except inside `run_billing(as_of=...)`, which moves it so that
every date the engine writes (periods, retries, grace) follows the time it was asked to run at."""

import contextlib
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone

_as_of: ContextVar[datetime | None] = ContextVar("billing_as_of", default=None)


def now() -> datetime:
    return _as_of.get() or timezone.now()


@contextlib.contextmanager
def running_at(as_of: datetime | None):
    token = _as_of.set(as_of)
    try:
        yield
    finally:
        _as_of.reset(token)
