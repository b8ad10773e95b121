"""One representation per resource: a function builds the JSON-ready dict that the API answers
and that events carry; the API serializer only describes it (for the OpenAPI schema)."""

from collections.abc import Callable
from datetime import UTC, datetime


def datetime_repr(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as API.md says (and as DRF renders them)."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# A serializer mixin: the output is `represent(instance)`, never the declared fields, which only
# describe it (for the OpenAPI schema). tests/test_representations.py checks that they agree. A
# comment, not a docstring: drf-spectacular would show a docstring as every such schema's description.
class Represented:
    represent: Callable[[object], dict]

    def to_representation(self, instance):
        return type(self).represent(instance)
