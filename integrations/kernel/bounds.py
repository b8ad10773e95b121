"""The ranges that input must keep, in one place: what an integer column can hold (from the model
field, so a bound moves with its column) and the latest moment a computed date may reach (year 9999).

Serializers use them through `integrations.kernel.api.fields.ColumnIntegerField`, services (which the
admin and commands call too) through `column_int`; both answer 400 `parameter_invalid` naming the field.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from django.db.backends.base.operations import BaseDatabaseOperations

from integrations.kernel.errors import InvalidRequest

# Python's datetime ends with the year 9999; nothing we compute may pass it.
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def column_range(model, field_name: str) -> tuple[int, int]:
    """(lowest, highest) value the field's column holds: smallint, integer or bigint, positive or not.
    Django's declared ranges, not the connection's, so that SQLite (whose integers are all 64-bit)
    refuses what PostgreSQL would."""
    field = model._meta.get_field(field_name)
    return BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]


def column_int(
    value: object, *, model, field: str, param: str | None = None, minimum: int | None = None, allow_none: bool = False
) -> int | None:
    """`value` if it is a whole number (not a bool) that the column holds, at least `minimum`;
    else InvalidRequest `parameter_invalid` naming `param` (default: the field)."""
    if value is None and allow_none:
        return None
    low, high = column_range(model, field)
    if minimum is not None:
        low = max(low, minimum)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        param = param or field
        raise InvalidRequest(
            f"{param} must be a whole number from {low} to {high}.", code="parameter_invalid", param=param
        )
    return value


def date_bounded(compute: Callable[[], datetime], *, param: str) -> datetime:
    """The date `compute` gives, if it is one Python can hold, no later than LATEST; else
    InvalidRequest `parameter_invalid` naming `param` (the input that took the date that far)."""
    try:
        result = compute()
    except (OverflowError, ValueError):  # timedelta/relativedelta past datetime.max
        result = None
    if result is None or result > LATEST:
        raise InvalidRequest(f"{param} takes a date past the year 9999.", code="parameter_invalid", param=param)
    return result
