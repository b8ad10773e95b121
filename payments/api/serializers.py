from rest_framework import serializers

from integrations.kernel.representation import Represented
from payments.api.fields import MoneyOutputField
from payments.models import Customer, Invoice, InvoiceLine, Payment, PaymentMethod, Refund
from payments.representations import (
    credit_note_repr,
    customer_repr,
    invoice_line_repr,
    invoice_repr,
    payment_method_repr,
    payment_repr,
    refund_repr,
)


class CustomerSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(customer_repr)

    class Meta:
        model = Customer
        fields = ["id", "external_id", "email", "name", "country", "currency", "created_at", "updated_at", "erased_at"]
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


class GatewaySerializer(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.CharField(help_text="The provider: sandbox or stripe.")
    client = serializers.DictField(help_text="What the app needs to tokenize a card with this gateway.")


class PaymentMethodSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(payment_method_repr)
    customer = serializers.CharField(source="customer_id")
    gateway = serializers.CharField(source="gateway_account_id")

    class Meta:
        model = PaymentMethod
        fields = ["id", "customer", "gateway", "brand", "last4", "exp_month", "exp_year", "is_default", "created_at"]
        read_only_fields = fields


class PaymentMethodAttachSerializer(serializers.Serializer):
    gateway = serializers.CharField(help_text="The gateway id from GET /api/v1/me/gateway.")
    token = serializers.CharField(max_length=255, help_text="The token the gateway gave the app for the card.")


class InvoiceLineSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(invoice_line_repr)
    unit_amount = MoneyOutputField()
    discount_amount = MoneyOutputField()
    tax_amount = MoneyOutputField()
    total = MoneyOutputField()

    class Meta:
        model = InvoiceLine
        fields = ["description", "quantity", "unit_amount", "discount_amount", "tax_amount", "total", "reference"]
        read_only_fields = fields


class InvoiceSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(invoice_repr)
    customer = serializers.CharField(source="customer_id")
    subtotal = MoneyOutputField()
    discount_total = MoneyOutputField()
    tax_total = MoneyOutputField()
    total = MoneyOutputField()
    lines = InvoiceLineSerializer(many=True)
    credit_notes = serializers.ListField(child=serializers.CharField(), help_text="Its credit notes' ids.")

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "customer",
            "status",
            "currency",
            "description",
            "subtotal",
            "discount_total",
            "tax_total",
            "total",
            "lines",
            "created_at",
            "finalized_at",
            "paid_at",
            "voided_at",
            "attempt_count",
            "next_attempt_at",
            "credit_notes",
        ]
        read_only_fields = fields


class CreditNoteLineSerializer(serializers.Serializer):
    invoice_line = serializers.IntegerField(help_text="The position of the invoice line it credits.")
    description = serializers.CharField()
    net = MoneyOutputField()
    tax = MoneyOutputField()
    total = MoneyOutputField()


class CreditNoteSerializer(Represented, serializers.Serializer):
    represent = staticmethod(credit_note_repr)
    id = serializers.CharField()
    number = serializers.CharField(help_text="CN-YYYY-NNNNNN, its own gap-free series.")
    invoice = serializers.CharField()
    refund = serializers.CharField()
    currency = serializers.CharField()
    lines = CreditNoteLineSerializer(many=True)
    subtotal = MoneyOutputField(help_text="Net credited.")
    tax = MoneyOutputField()
    total = MoneyOutputField()
    tax_breakdown = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


class NextActionSerializer(serializers.Serializer):
    type = serializers.CharField()
    url = serializers.URLField()


class PaymentAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    outcome = serializers.ChoiceField(["pending", "succeeded", "failed", "requires_action", "unknown"])
    decline_code = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class PaymentSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(payment_repr)
    customer = serializers.CharField(source="customer_id")
    invoice = serializers.CharField(source="invoice_id")
    gateway = serializers.CharField(source="gateway_account_id")
    payment_method = serializers.CharField(source="payment_method_id", allow_null=True)
    amount = MoneyOutputField()
    amount_refunded = MoneyOutputField()
    fee = MoneyOutputField(allow_null=True)
    net = MoneyOutputField(allow_null=True)
    payout = serializers.CharField(source="payout_id", allow_null=True)
    decline_code = serializers.CharField(allow_null=True, read_only=True)
    next_action = NextActionSerializer(allow_null=True, read_only=True)
    attempts = PaymentAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "customer",
            "invoice",
            "gateway",
            "payment_method",
            "status",
            "amount",
            "amount_refunded",
            "decline_code",
            "failure_message",
            "next_action",
            "attempts",
            "off_session",
            "fee",
            "net",
            "payout",
            "captured_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RefundSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(refund_repr)
    payment = serializers.CharField(source="payment_id")
    amount = MoneyOutputField()

    class Meta:
        model = Refund
        fields = ["id", "payment", "amount", "status", "reason", "failure_message", "created_at"]
        read_only_fields = fields


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.JSONField(
        required=False, help_text='{"amount": "5.00", "currency": "EUR"} or "5.00"; none = all that is left.'
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
