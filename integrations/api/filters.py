"""The event log's and the audit log's query-string filters: garbage is a 400 naming the parameter."""

from datetime import UTC, datetime, time, timedelta

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.kernel.api.parsing import id_filter, text_filter
from integrations.models import AuditEvent, Event


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


@extend_schema_field(OpenApiTypes.STR)
class InstantFilter(serializers.Field):
    """An ISO 8601 date-time (with an offset, or UTC) or a date. As `to`, a date means the end of
    that day. Out of the calendar, or not a date, is 400."""

    default_error_messages = {"invalid": "An ISO 8601 date (2027-01-31) or date-time (2027-01-31T12:00:00Z)."}

    def __init__(self, *, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not 10 <= len(data) <= 35:
            self.fail("invalid")
        try:
            # A date alone first: Python's fromisoformat (under parse_datetime) reads it as midnight.
            day = parse_date(data) if len(data) == 10 else None
            moment = None if day else parse_datetime(data)
        except ValueError:  # well formed, but no such day or hour
            self.fail("invalid")
        if moment is not None:
            try:  # in UTC, as the database compares it: an offset may push it past the calendar
                return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
            except OverflowError:
                self.fail("invalid")
        if day is None:
            self.fail("invalid")
        start = datetime.combine(day, time.min, tzinfo=UTC)
        if not self.end_of_day:
            return start
        try:
            return start + timedelta(days=1)
        except OverflowError:  # 9999-12-31: its end is as far as time goes
            return datetime.max.replace(tzinfo=UTC)

    def to_representation(self, value):
        return value.isoformat()


_actor_types = "|".join(AuditEvent.ActorType.values)

AuditEventFilters = type(
    "AuditEventFilters",
    (serializers.Serializer,),
    {
        "__doc__": "The audit log's filters (`from` is a Python keyword: the class is built from a dict).",
        "actor": text_filter(
            AuditEvent._meta.get_field("actor_name").max_length,
            help_text=f"An actor's id (`key_...`, a user's id), a user name, or a type ({_actor_types}).",
        ),
        "action": serializers.RegexField(
            r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$",
            required=False,
            allow_blank=True,
            max_length=AuditEvent._meta.get_field("action").max_length,
            error_messages={
                "invalid": "An action is dotted lower-case words (refund.created), or a prefix (refund.*)."
            },
            help_text="e.g. refund.created, or refund.* for every refund action",
        ),
        "object": serializers.RegexField(
            r"^[0-9A-Za-z_-]{1,64}$",
            required=False,
            allow_blank=True,
            max_length=AuditEvent._meta.get_field("object_id").max_length,
            error_messages={"invalid": "An object's id, e.g. pay_01j..., or a user's id."},
            help_text="The id of the object changed (e.g. `pay_...`).",
        ),
        "from": InstantFilter(help_text="From this time (inclusive): an ISO 8601 date or date-time."),
        "to": InstantFilter(end_of_day=True, help_text="Until this time (exclusive); a date includes that whole day."),
    },
)
