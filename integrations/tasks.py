"""django-q2 entry points: thin, safe to run twice."""

from integrations.kernel.api.idempotency import idempotency_keys_purge as _purge


def idempotency_keys_purge() -> int:
    return _purge()
