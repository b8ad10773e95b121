"""django-q2 entry points: thin, safe to run twice."""

from integrations.kernel.api.idempotency import idempotency_keys_purge as _purge
from integrations.kernel.audit import audit_events_purge as _audit_purge
from integrations.webhooks.sending import webhook_deliveries_send as _send


def idempotency_keys_purge() -> int:
    return _purge()


def events_purge() -> int:
    """The outbox's retention (EVENT_RETENTION_DAYS)."""
    from integrations.services import events_purge as purge

    return purge()


def audit_events_purge() -> int:
    return _audit_purge()


def connectors_run() -> int:
    """Every enabled connector that is due; answers how many events were handled."""
    from integrations.connectors.services import connectors_run as run

    return sum(result.handled for result in run().values())


def webhook_deliveries_send(endpoint_ids=None) -> int:
    """After an event's transaction commits: send what is due for the endpoints it went to."""
    return _send(endpoint_ids=endpoint_ids)


def webhook_deliveries_send_due() -> int:
    """Every minute: retries that fell due, and whatever a sender that died left leased."""
    return _send()
