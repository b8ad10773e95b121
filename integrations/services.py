"""Writes to the event outbox."""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from integrations.models import Event


def event_emit(*, type: str, payload: dict[str, Any], customer_id: str = "") -> Event:
    """Record an event inside the caller's transaction, so it exists exactly when the change does."""
    # Round-trip through JSON now so Decimals, datetimes and Money-like values are frozen as text.
    frozen = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    return Event.objects.create(type=type, payload=frozen, customer_id=customer_id or "")
