"""The webhook routes' bodies and answers (the representations in integrations/webhooks give them)."""

from rest_framework import serializers

from integrations.kernel.api.parsing import choice_filter
from integrations.kernel.representation import Represented
from integrations.webhooks.destinations import MAX_URL_LENGTH
from integrations.webhooks.event_types import MAX_FILTERS
from integrations.webhooks.models import WebhookDelivery, WebhookEndpoint
from integrations.webhooks.representations import webhook_delivery_repr, webhook_endpoint_repr

_EVENTS_HELP = '["*"] for every event, or types ("payment.succeeded") and resource patterns ("subscription.*").'
_URL_HELP = "https://... (http only in development); refused (url_not_allowed) if it resolves to a private address."


class WebhookEndpointSerializer(Represented, serializers.Serializer):
    represent = staticmethod(webhook_endpoint_repr)

    id = serializers.CharField(help_text="`whe_...`")
    url = serializers.CharField()
    enabled_events = serializers.ListField(child=serializers.CharField(), help_text=_EVENTS_HELP)
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices)
    disabled_reason = serializers.CharField(allow_null=True, help_text="Why it was disabled; null while enabled.")
    created_at = serializers.DateTimeField()


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """The answer to POST, the only one that carries the secret."""

    secret = serializers.CharField(help_text="`whsec_...`: shown this once; it signs every delivery.")


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, trim_whitespace=False, help_text=_URL_HELP)
    enabled_events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=MAX_FILTERS,
        required=False,
        default=["*"],
        help_text=_EVENTS_HELP,
    )
    description = serializers.CharField(
        max_length=WebhookEndpoint._meta.get_field("description").max_length,
        required=False,
        allow_blank=True,
        default="",
    )


class WebhookEndpointUpdateSerializer(WebhookEndpointCreateSerializer):
    """Only the fields sent change."""

    url = serializers.CharField(max_length=MAX_URL_LENGTH, trim_whitespace=False, required=False, help_text=_URL_HELP)
    enabled_events = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=MAX_FILTERS, required=False, help_text=_EVENTS_HELP
    )
    description = serializers.CharField(
        max_length=WebhookEndpoint._meta.get_field("description").max_length, required=False, allow_blank=True
    )
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices, required=False)


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new `whsec_...`; the previous one keeps signing for 24 hours.")


class WebhookDeliverySerializer(Represented, serializers.Serializer):
    represent = staticmethod(webhook_delivery_repr)

    id = serializers.CharField(help_text="`whd_...`")
    event = serializers.CharField(help_text="`evt_...`: also the `webhook-id` header of every attempt.")
    endpoint = serializers.CharField(help_text="`whe_...`")
    attempt = serializers.IntegerField(help_text="Attempts made so far.")
    status = serializers.ChoiceField(
        choices=WebhookDelivery.Status.values, help_text="failed: dead, after the last retry or a 410."
    )
    response_status = serializers.IntegerField(allow_null=True, help_text="The last answer's HTTP status.")
    duration_ms = serializers.IntegerField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookDeliveryFilters(serializers.Serializer):
    status = choice_filter(WebhookDelivery.Status.values)


class RedeliverSerializer(serializers.Serializer):
    endpoint = serializers.RegexField(
        r"^whe_[0-9a-z]{1,60}$",
        required=False,
        error_messages={"invalid": "Not a whe_ id."},
        help_text="One endpoint; none: every endpoint the event was meant for.",
    )


class RedeliveredSerializer(serializers.Serializer):
    event = serializers.CharField()
    deliveries = WebhookDeliverySerializer(many=True)
