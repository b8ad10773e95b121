"""django-q2 entry points: thin, safe to run twice."""

from integrations.kernel.api.idempotency import idempotency_keys_purge as _purge
from integrations.kernel.audit import audit_events_purge as _audit_purge


def idempotency_keys_purge() -> int:
    return _purge()


def audit_events_purge() -> int:
    return _audit_purge()
