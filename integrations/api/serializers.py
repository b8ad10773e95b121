from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.kernel.audit import audit_event_repr
from integrations.kernel.models import AuditEvent
from integrations.kernel.representation import Represented
from integrations.models import Event


class ActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AuditEvent.ActorType.choices)
    id = serializers.CharField(allow_null=True, help_text="A user's id or an API key's `key_` id; null for system.")
    name = serializers.CharField()


def event_actor(event: Event) -> dict | None:
    """Who caused the event (API.md: an event names its actor); null for a customer or a gateway."""
    if not event.actor_type:
        return None
    return {"type": event.actor_type, "id": event.actor_id or None, "name": event.actor_name}


class EventSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer_id", allow_null=True)
    data = serializers.JSONField(source="payload")
    actor = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "type", "created_at", "customer", "data", "actor"]
        read_only_fields = fields

    @extend_schema_field(ActorSerializer(allow_null=True))
    def get_actor(self, event):
        return event_actor(event)

    def to_representation(self, event):
        body = super().to_representation(event)
        body["customer"] = body["customer"] or None
        return body


class AuditObjectSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="e.g. refund, plan, api_key, user")
    id = serializers.CharField(allow_null=True)


class AuditEventSerializer(Represented, serializers.Serializer):
    represent = staticmethod(audit_event_repr)

    id = serializers.CharField(help_text="`aud_...`")
    at = serializers.DateTimeField()
    actor = ActorSerializer()
    action = serializers.CharField(help_text="e.g. refund.created, plan.updated, staff.signed_in")
    object = AuditObjectSerializer()
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(allow_null=True), min_length=2, max_length=2),
        help_text="{field: [before, after]}; secrets and card data are never kept.",
    )
    ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.choices)
