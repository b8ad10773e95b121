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

LOCALE_HELP = (
    'The language of the customer\'s invoices and credit notes, a BCP 47 tag ("de", "de-AT"); null: English. '
    "Documents are written in English or German; numbers and dates follow the whole tag."
)


BILLING_ADDRESS_HELP = (
    "The postal address invoices and credit notes print under the customer's name (VAT Directive art. 226): "
    "street, postal code and city, one per line (\\n); at most 5 lines and 500 characters, printable text only "
    '(anything else answers 400 parameter_invalid). null or "" removes it. Documents already issued keep '
    "the address they were issued with."
)


class CustomerSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(customer_repr)
    tax_id = serializers.CharField(
        allow_null=True, help_text='The business\'s tax id in normal form (e.g. "FR40303265045"), or null.'
    )
    tax_id_status = serializers.ChoiceField(
        Customer.TaxIdStatus.values,
        help_text="verified: VIES confirmed it (an EU VAT id); unverified: not (yet) confirmed, taxed as a consumer.",
    )
    tax_id_country = serializers.CharField(allow_null=True, help_text="ISO 3166-1 alpha-2 of the tax id's prefix.")
    subdivision = serializers.CharField(
        allow_null=True,
        help_text='US state or Canadian province or territory (ISO 3166-2 without the country: "QC"), or null.',
    )
    preferred_locale = serializers.CharField(allow_null=True, help_text=LOCALE_HELP)
    billing_address = serializers.CharField(allow_null=True, help_text=BILLING_ADDRESS_HELP)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "email",
            "name",
            "country",
            "subdivision",
            "currency",
            "business_name",
            "tax_id",
            "tax_id_status",
            "tax_id_country",
            "tax_id_verified_at",
            "preferred_locale",
            "billing_address",
            "created_at",
            "updated_at",
            "erased_at",
        ]
        read_only_fields = fields


TAX_ID_HELP = (
    "A business's VAT or business number, with its country prefix (without one, read as the customer's "
    "country's): EU VAT numbers (EL for Greece, XI for Northern Ireland), GB, CH, NO, AU, NZ, CA. A number "
    'failing its format or checksum answers 400 tax_id_invalid; null or "" removes it.'
)


SUBDIVISION_HELP = (
    'US or Canadian customers: their state, province or territory for its tax, ISO 3166-2 ("QC" or "CA-QC"; '
    'stored and shown as "QC"). Any other country, or a code not of the customer\'s country, answers 400 '
    'parameter_invalid; null or "" removes it. A change of country clears it unless a new one is given.'
)


class CustomerCreateSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    email = serializers.EmailField(max_length=254)
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    business_name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    tax_id = serializers.CharField(
        max_length=40, required=False, allow_null=True, allow_blank=True, default=None, help_text=TAX_ID_HELP
    )
    subdivision = serializers.CharField(
        max_length=16, required=False, allow_null=True, allow_blank=True, default=None, help_text=SUBDIVISION_HELP
    )
    preferred_locale = serializers.CharField(
        max_length=35, required=False, allow_null=True, allow_blank=True, default=None, help_text=LOCALE_HELP
    )
    billing_address = serializers.CharField(
        max_length=500, required=False, allow_null=True, allow_blank=True, default=None, help_text=BILLING_ADDRESS_HELP
    )


class CustomerUpdateSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    country = serializers.CharField(max_length=2, required=False)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    business_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    tax_id = serializers.CharField(
        max_length=40, required=False, allow_null=True, allow_blank=True, help_text=TAX_ID_HELP
    )
    subdivision = serializers.CharField(
        max_length=16, required=False, allow_null=True, allow_blank=True, help_text=SUBDIVISION_HELP
    )
    preferred_locale = serializers.CharField(
        max_length=35, required=False, allow_null=True, allow_blank=True, help_text=LOCALE_HELP
    )
    billing_address = serializers.CharField(
        max_length=500, required=False, allow_null=True, allow_blank=True, help_text=BILLING_ADDRESS_HELP
    )


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
    kind = serializers.CharField(help_text="The provider: sandbox, stripe or adyen.")
    client = serializers.DictField(
        help_text="What the app needs to tokenize a card with this gateway: the sandbox `tokenize_url` and "
        "`publishable_key`; Stripe `publishable_key`; Adyen `client_key` and `environment` (for its Web components)."
    )


class PaymentMethodSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(payment_method_repr)
    customer = serializers.CharField(source="customer_id")
    gateway = serializers.CharField(source="gateway_account_id")
    country = serializers.CharField(
        allow_null=True,
        help_text="The card's issuing country (ISO 3166-1 alpha-2) as the gateway says; null if unknown.",
    )

    class Meta:
        model = PaymentMethod
        fields = [
            "id",
            "customer",
            "gateway",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "country",
            "is_default",
            "created_at",
        ]
        read_only_fields = fields


class PaymentMethodAttachSerializer(serializers.Serializer):
    gateway = serializers.CharField(help_text="The gateway id from GET /api/v1/me/gateway.")
    token = serializers.CharField(
        max_length=16384,
        help_text="What the gateway gave the app for the card: a token id (sandbox, Stripe), or for Adyen the "
        "`paymentMethod` object of its card component (encrypted fields) as a JSON string.",
    )


class PriceTaxSerializer(serializers.Serializer):
    """The tax of a price as charged to a customer (payments.representations.price_tax_repr)."""

    rate = serializers.CharField(help_text='A fraction: "0.19" is 19%; "0" under the reverse charge.')
    amount = MoneyOutputField(help_text="The tax: included in the price (inclusive) or added to it (exclusive).")
    inclusive = serializers.BooleanField(help_text="Whether the price includes the tax (the plan's tax_behavior).")


class InvoiceLineSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(invoice_line_repr)
    amount = MoneyOutputField(help_text="Quantity x unit amount, before discounts.")
    discount = MoneyOutputField(source="discount_amount")
    net = MoneyOutputField(help_text="After discounts, without tax.")
    tax_rate = serializers.CharField(help_text='The rate it was taxed at, a fraction: "0.19" is 19%.')
    tax = MoneyOutputField(source="tax_amount")
    total = MoneyOutputField(help_text="What is charged for it: net + tax.")
    unit_amount = MoneyOutputField()
    discount_amount = MoneyOutputField()
    tax_amount = MoneyOutputField()

    class Meta:
        model = InvoiceLine
        fields = [
            "description",
            "amount",
            "discount",
            "net",
            "tax_rate",
            "tax",
            "total",
            "quantity",
            "unit_amount",
            "discount_amount",
            "tax_amount",
            "reference",
        ]
        read_only_fields = fields


class TaxBreakdownSerializer(serializers.Serializer):
    country = serializers.CharField()
    subdivision = serializers.CharField(allow_null=True)
    rate = serializers.CharField()
    taxable = MoneyOutputField(help_text="The net taxed at this rate.")
    tax = MoneyOutputField()
    reverse_charge = serializers.BooleanField()


class TaxEvidenceSerializer(serializers.Serializer):
    billing_country = serializers.CharField(allow_null=True)
    card_country = serializers.CharField(allow_null=True)
    ip_country = serializers.CharField(allow_null=True)
    conclusive = serializers.BooleanField(
        allow_null=True, help_text="At least two pieces agree; null for invoices made before tax evidence."
    )


class InvoiceBuyerSerializer(serializers.Serializer):
    business_name = serializers.CharField(allow_null=True)
    tax_id = serializers.CharField(allow_null=True, help_text="The customer's tax id when the invoice was made.")


class InvoiceSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(invoice_repr)
    customer = serializers.CharField(source="customer_id")
    subtotal = MoneyOutputField(help_text="The lines' amounts before discounts.")
    discount = MoneyOutputField(source="discount_total")
    tax = MoneyOutputField(source="tax_total")
    total = MoneyOutputField(help_text="What is charged.")
    discount_total = MoneyOutputField()
    tax_total = MoneyOutputField()
    tax_inclusive = serializers.BooleanField(help_text="Whether the lines' amounts include the tax.")
    tax_status = serializers.ChoiceField(Invoice.TaxStatus.values)
    reverse_charge = serializers.BooleanField(help_text='The customer accounts for the tax ("Reverse charge").')
    tax_breakdown = TaxBreakdownSerializer(many=True, help_text="The tax per rate; empty where none applied.")
    tax_evidence = TaxEvidenceSerializer()
    buyer = InvoiceBuyerSerializer()
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
            "discount",
            "tax",
            "total",
            "discount_total",
            "tax_total",
            "tax_inclusive",
            "tax_status",
            "reverse_charge",
            "tax_breakdown",
            "tax_evidence",
            "buyer",
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
    tax_breakdown = TaxBreakdownSerializer(many=True, help_text="The tax credited per rate.")
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
