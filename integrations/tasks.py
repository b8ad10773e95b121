"""django-q2 entry points: thin, safe to run twice."""

from integrations.kernel.api.idempotency import idempotency_keys_purge as _purge
from integrations.kernel.audit import audit_events_purge as _audit_purge


def idempotency_keys_purge() -> int:
    return _purge()


def audit_events_purge() -> int:
    return _audit_purge()


def connectors_run() -> int:
    """Every enabled connector that is due; answers how many events were handled."""
    from integrations.connectors.services import connectors_run as run

    return sum(result.handled for result in run().values())
