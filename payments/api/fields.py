"""Money in the API: `{"amount": "9.99", "currency": "EUR"}`, the amount a string with exactly the
currency's minor-unit digits."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments.currency import money_repr

MONEY_SCHEMA = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {
        "amount": {"type": "string", "example": "9.99", "description": "Decimal string, currency's minor-unit digits."},
        "currency": {"type": "string", "example": "EUR", "description": "ISO 4217 code."},
    },
}


@extend_schema_field(MONEY_SCHEMA)
class MoneyOutputField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value is None else money_repr(value)
