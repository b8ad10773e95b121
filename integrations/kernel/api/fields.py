"""Serializer fields whose bounds come from the model: an integer the column can hold."""

from rest_framework import serializers

from integrations.kernel.bounds import column_range

# The longest free text (a description) a request may carry; names and codes have their columns' lengths.
DESCRIPTION_MAX_LENGTH = 5000


class ColumnIntegerField(serializers.IntegerField):
    """An IntegerField bounded by `model.field`'s column (smallint, integer, bigint; positive or
    not), from `min_value` where the model asks more (a CHECK of >= 1). Out of range is 400
    `parameter_invalid` naming the field, never an overflow in the database."""

    def __init__(self, *, model, field: str, min_value: int | None = None, **kwargs):
        low, high = column_range(model, field)
        super().__init__(min_value=low if min_value is None else max(low, min_value), max_value=high, **kwargs)
