from rest_framework import serializers

from payments.models import Customer


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "external_id", "email", "name", "country", "currency", "created_at", "updated_at"]
        read_only_fields = fields


class CustomerCreateSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    email = serializers.EmailField(max_length=254)
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class CustomerUpdateSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    country = serializers.CharField(max_length=2, required=False)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)


class CustomerTokenCreateSerializer(serializers.Serializer):
    ttl_seconds = serializers.IntegerField(required=False, min_value=60, max_value=30 * 86400)


class CustomerTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Shown once. Send as `Authorization: Bearer <token>` to /api/v1/me/ routes."
    )
    expires_at = serializers.DateTimeField()
    customer = serializers.CharField()
