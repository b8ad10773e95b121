from rest_framework import serializers

from integrations.models import Event


class EventSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer_id", allow_null=True)
    data = serializers.JSONField(source="payload")

    class Meta:
        model = Event
        fields = ["id", "type", "created_at", "customer", "data"]
        read_only_fields = fields

    def to_representation(self, event):
        body = super().to_representation(event)
        body["customer"] = body["customer"] or None
        return body
