from datetime import datetime

from django.db.models import Q, QuerySet

from integrations.models import AuditEvent, Event


def event_list(*, type: str | None = None, customer_id: str | None = None) -> QuerySet[Event]:
    events = Event.objects.all()
    if type:
        events = events.filter(type=type)
    if customer_id:
        events = events.filter(customer_id=customer_id)
    return events.order_by("-created_at", "-id")


def audit_event_list(
    *,
    actor: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    at_from: datetime | None = None,
    at_to: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The audit log, newest first. `actor`: an id, a user name or an actor type; `action`: exact, or
    a prefix ending in `.*`."""
    events = AuditEvent.objects.all()
    if actor:
        match = Q(actor_id=actor) | Q(actor_name=actor)
        if actor in AuditEvent.ActorType.values:
            match |= Q(actor_type=actor)
        events = events.filter(match)
    if action:
        events = (
            events.filter(action__startswith=action[:-1]) if action.endswith(".*") else events.filter(action=action)
        )
    if object_id:
        events = events.filter(object_id=object_id)
    if at_from is not None:
        events = events.filter(at__gte=at_from)
    if at_to is not None:
        events = events.filter(at__lt=at_to)
    return events.order_by("-at", "-id")
