"""One representation per resource: a function builds the JSON-ready dict that the API answers
and that events carry; the API serializer only describes it (for the OpenAPI schema)."""

from collections.abc import Callable
from datetime import UTC, datetime


def datetime_repr(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as API.md says (and as DRF renders them)."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Represented:
    """A serializer mixin: the output is `represent(instance)`, never the declared fields, which
    only describe it. A test checks that the fields and the function agree."""

    represent: Callable[[object], dict]

    def to_representation(self, instance):
        return type(self).represent(instance)
