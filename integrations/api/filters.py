"""The event log's query-string filters: garbage is a 400 naming the parameter."""

from rest_framework import serializers

from integrations.kernel.api.parsing import id_filter
from integrations.models import Event


class EventFilters(serializers.Serializer):
    type = serializers.RegexField(
        r"^[a-z0-9_]+(\.[a-z0-9_]+)+$",
        required=False,
        allow_blank=True,
        max_length=Event._meta.get_field("type").max_length,
        error_messages={"invalid": "An event type is dotted lower-case words, e.g. payment.succeeded."},
        help_text="e.g. payment.succeeded",
    )
    customer = id_filter("cus")
