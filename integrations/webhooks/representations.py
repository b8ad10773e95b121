"""The one representation of endpoints and deliveries: what the API answers and events carry."""

from integrations.kernel.representation import datetime_repr
from integrations.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoint_repr(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "enabled_events": list(endpoint.enabled_events or []),
        "description": endpoint.description,
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason or None,
        "created_at": datetime_repr(endpoint.created_at),
    }


def webhook_delivery_repr(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.id,
        "event": delivery.event_id,
        "endpoint": delivery.endpoint_id,
        "attempt": delivery.attempt,
        "status": delivery.status,
        "response_status": delivery.response_status,
        "duration_ms": delivery.duration_ms,
        "next_attempt_at": datetime_repr(delivery.next_attempt_at),
        "created_at": datetime_repr(delivery.created_at),
    }
