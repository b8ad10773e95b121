"""Which events an endpoint may ask for: `*`, a type (`payment.succeeded`) or every type of a
resource (`subscription.*`). Types are `<resource>.<what happened>`; the resources are those the
services emit (tests/test_webhook_event_types.py checks every emitted type against this list), so a
misspelt resource is refused rather than silently never matching."""

import re

from integrations.kernel.errors import InvalidRequest

EVENT_RESOURCES = (
    "coupon",
    "credit_note",
    "customer",
    "gateway_account",
    "invoice",
    "payment",
    "payment_method",
    "payout",
    "plan",
    "subscription",
    "tax_registration",
    "webhook_endpoint",
)
MAX_FILTERS = 100
_FILTER = re.compile(r"^(?P<resource>[a-z][a-z0-9_]*)\.(?P<what>[a-z][a-z0-9_]*|\*)$")


def enabled_events_normalize(value) -> list[str]:
    """The filters checked, duplicates dropped, in the order given; `*` alone when it is among them."""
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            'enabled_events is a non-empty list: ["*"], or event types ("payment.succeeded", "subscription.*").',
            code="parameter_invalid",
            param="enabled_events",
        )
    if len(value) > MAX_FILTERS:
        raise InvalidRequest(f"At most {MAX_FILTERS} event types.", code="parameter_invalid", param="enabled_events")
    filters = []
    for index, item in enumerate(value):
        if item == "*":
            filters.append(item)
            continue
        match = _FILTER.match(item) if isinstance(item, str) and len(item) <= 64 else None
        if match is None or match["resource"] not in EVENT_RESOURCES:
            raise InvalidRequest(
                f"{item!r} is not an event type: `*`, `<resource>.<event>` or `<resource>.*`, the resource one of "
                f"{', '.join(EVENT_RESOURCES)}.",
                code="parameter_invalid",
                param=f"enabled_events[{index}]",
            )
        if item not in filters:
            filters.append(item)
    return ["*"] if "*" in filters else filters


def event_matches(filters: list[str], event_type: str) -> bool:
    if "*" in filters or event_type in filters:
        return True
    return f"{event_type.split('.', 1)[0]}.*" in filters
