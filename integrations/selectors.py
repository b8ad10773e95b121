from django.db.models import QuerySet

from integrations.models import Event


def event_list(*, type: str | None = None, customer_id: str | None = None) -> QuerySet[Event]:
    events = Event.objects.all()
    if type:
        events = events.filter(type=type)
    if customer_id:
        events = events.filter(customer_id=customer_id)
    return events.order_by("-created_at", "-id")
