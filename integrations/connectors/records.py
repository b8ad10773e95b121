"""A connector's memory of our objects (ConnectorRecord), and facts about them read back from the
outbox when the connector has not seen them itself (a customer created before it was enabled)."""

from integrations.models import Connector, ConnectorRecord, Event


def record_for(*, connector: Connector, object_type: str, object_id: str) -> ConnectorRecord:
    """The record of one of our objects, made on first sight. The runner holds the connector's
    lock, so no other runner of this connector makes it at the same time."""
    record, _ = ConnectorRecord.objects.get_or_create(connector=connector, object_type=object_type, object_id=object_id)
    return record


def record_find(*, connector: Connector, object_type: str, object_id: str) -> ConnectorRecord | None:
    return ConnectorRecord.objects.filter(connector=connector, object_type=object_type, object_id=object_id).first()


def latest_customer_payload(customer_id: str) -> dict | None:
    """The customer as the newest customer.created/updated event shows it."""
    event = (
        Event.objects.filter(customer_id=customer_id, type__in=["customer.created", "customer.updated"])
        .order_by("-created_at", "-id")
        .only("payload")
        .first()
    )
    return (event.payload or {}).get("customer") if event else None


def latest_plan_payload(plan_id: str) -> dict | None:
    """The plan as the newest plan.* event shows it (plan events are few: the type index finds them)."""
    event = (
        Event.objects.filter(type__in=["plan.created", "plan.updated", "plan.archived"], payload__plan__id=plan_id)
        .order_by("-created_at", "-id")
        .only("payload")
        .first()
    )
    return (event.payload or {}).get("plan") if event else None
