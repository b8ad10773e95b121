from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.kernel.api.fields import DESCRIPTION_MAX_LENGTH, ColumnIntegerField
from integrations.kernel.representation import Represented
from payments.api.fields import MONEY_SCHEMA, MoneyOutputField
from payments.api.serializers import InvoiceSerializer, NextActionSerializer, PriceTaxSerializer
from payments.currency import money_repr
from payments.representations import payment_next_action
from plans.models import Access, Plan, Subscription
from plans.representations import access_repr, plan_for_sale_repr, plan_repr, subscription_repr


class TrialSerializer(serializers.Serializer):
    length = ColumnIntegerField(model=Plan, field="trial_length", min_value=1)
    unit = serializers.ChoiceField(choices=Plan.TrialUnit.choices)
    requires_payment_method = serializers.BooleanField(default=True)

    def validate(self, attrs):
        # A plan edit is partial, and DRF makes its nested trial partial too: a trial is whole or null.
        for field in ("length", "unit"):
            if field not in attrs:
                raise serializers.ValidationError(
                    {field: [self.fields[field].error_messages["required"]]}, code="required"
                )
        return attrs


class _PlanBaseSerializer(Represented, serializers.ModelSerializer):
    interval = serializers.ChoiceField(choices=Plan.Interval.choices, allow_null=True, read_only=True)
    interval_count = serializers.IntegerField(allow_null=True, read_only=True)
    trial = TrialSerializer(allow_null=True, read_only=True)


_PLAN_FIELDS = [
    "id",
    "code",
    "name",
    "description",
    "kind",
    "interval",
    "interval_count",
    "billing_cycles",
    "access_days",
    "trial",
    "tax_behavior",
    "tax_category",
    "status",
]


class PlanSerializer(_PlanBaseSerializer):
    """The operator's view: every current price."""

    represent = staticmethod(plan_repr)
    prices = serializers.ListField(child=MoneyOutputField(), read_only=True)

    class Meta:
        model = Plan
        fields = [*_PLAN_FIELDS, "prices", "created_at", "updated_at"]
        read_only_fields = fields


class CustomerPlanSerializer(_PlanBaseSerializer):
    """A customer's view: the price in their currency, and as it is charged to them."""

    represent = staticmethod(plan_for_sale_repr)
    price = MoneyOutputField(help_text="As the plan is priced (tax included or not, per tax_behavior).")
    price_tax = PriceTaxSerializer(
        allow_null=True, read_only=True, help_text="The tax this customer pays on the price; null when none applies."
    )
    price_total = MoneyOutputField(help_text="What this customer pays: the price, with the tax added if exclusive.")

    class Meta:
        model = Plan
        fields = [*_PLAN_FIELDS, "price", "price_tax", "price_total"]
        read_only_fields = fields


class PlanWriteSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX_LENGTH)
    kind = serializers.ChoiceField(choices=Plan.Kind.choices)
    interval = serializers.ChoiceField(choices=Plan.Interval.choices, required=False, allow_null=True)
    interval_count = ColumnIntegerField(
        model=Plan,
        field="interval_count",
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Recurring: default 1. One-off: null.",
    )
    billing_cycles = ColumnIntegerField(
        model=Plan, field="billing_cycles", min_value=1, required=False, allow_null=True, default=None
    )
    access_days = ColumnIntegerField(
        model=Plan, field="access_days", min_value=1, required=False, allow_null=True, default=None
    )
    trial = TrialSerializer(required=False, allow_null=True, default=None)
    tax_behavior = serializers.ChoiceField(
        choices=Plan.TaxBehavior.choices,
        required=False,
        default=Plan.TaxBehavior.INCLUSIVE,
        help_text="Whether the prices include tax (inclusive, the default) or tax is added (exclusive).",
    )
    tax_category = serializers.ChoiceField(
        choices=Plan.TaxCategory.choices,
        required=False,
        default=Plan.TaxCategory.DIGITAL_SERVICES,
        help_text="What it sells, for its rate: digital_services (the default) or broadcasting (taxed lower in some countries).",
    )
    prices = serializers.ListField(
        child=serializers.DictField(), max_length=200, help_text='[{"amount": "9.99", "currency": "EUR"}, ...]'
    )


class PlanUpdateSerializer(PlanWriteSerializer):
    """Every field optional; `prices`, when given, is the whole new set of current prices."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


class AccessSerializer(Represented, serializers.ModelSerializer):
    """The access a one-off purchase grants (in checkout's `subscription` field)."""

    represent = staticmethod(access_repr)
    object = serializers.CharField(help_text='Always "access".', read_only=True)
    plan = serializers.CharField(source="plan_id")

    class Meta:
        model = Access
        fields = ["id", "object", "plan", "status", "access_from", "access_until", "created_at"]
        read_only_fields = fields


class CheckoutPaymentSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    amount = serializers.SerializerMethodField()
    next_action = serializers.SerializerMethodField()

    @extend_schema_field(MONEY_SCHEMA)
    def get_amount(self, payment):
        return money_repr(payment.amount)

    @extend_schema_field(NextActionSerializer(allow_null=True))
    def get_next_action(self, payment):
        return payment_next_action(payment)


IP_COUNTRY_HELP = (
    "ISO 3166-1 alpha-2 of where the app sees the customer (from their IP address): evidence for the "
    "place of supply beside the billing country and the card's issuing country. Optional."
)


class CheckoutRequestSerializer(serializers.Serializer):
    plan = serializers.CharField()
    payment_method = serializers.CharField(required=False, allow_null=True, default=None)
    coupon_code = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)
    return_url = serializers.CharField(required=False, allow_blank=True, default="")
    ip_country = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default="", max_length=8, help_text=IP_COUNTRY_HELP
    )


class SubscriptionSerializer(Represented, serializers.ModelSerializer):
    represent = staticmethod(subscription_repr)
    object = serializers.CharField(help_text='Always "subscription".', read_only=True)
    customer = serializers.CharField(source="customer_id")
    plan = serializers.CharField(source="plan_id")
    price = MoneyOutputField()
    payment_method = serializers.CharField(source="payment_method_id", allow_null=True)
    pending_plan = serializers.CharField(allow_null=True, read_only=True)
    cancel_reason = serializers.CharField(allow_null=True, read_only=True)
    grace_until = serializers.DateTimeField(allow_null=True, read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "object",
            "customer",
            "plan",
            "status",
            "price",
            "payment_method",
            "current_period_start",
            "current_period_end",
            "trial_start",
            "trial_end",
            "cycles_billed",
            "cancel_at_period_end",
            "canceled_at",
            "cancel_reason",
            "ended_at",
            "pending_plan",
            "grace_until",
            "created_at",
        ]
        read_only_fields = fields


class CheckoutSerializer(serializers.Serializer):
    subscription = serializers.SerializerMethodField(
        help_text="The subscription (recurring plans) or the access a one-off plan grants."
    )
    invoice = InvoiceSerializer(allow_null=True)
    payment = CheckoutPaymentSerializer(allow_null=True)
    setup = serializers.SerializerMethodField(
        help_text="A trial's card that the bank wants authenticated before later charges: "
        '{"status": "requires_action", "next_action": {"type": "redirect_to_url", "url": ...}}; else null.'
    )

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_setup(self, result):
        url = getattr(result, "setup_action_url", "")
        if not url:
            return None
        return {"status": "requires_action", "next_action": {"type": "redirect_to_url", "url": url}}

    @extend_schema_field(SubscriptionSerializer)
    def get_subscription(self, result):
        if result.subscription is not None:
            return SubscriptionSerializer(result.subscription).data
        return AccessSerializer(result.access).data


class SubscriptionCancelSerializer(serializers.Serializer):
    at_period_end = serializers.BooleanField(default=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=40, default="")


class ChangePlanSerializer(serializers.Serializer):
    plan = serializers.CharField()
    return_url = serializers.CharField(required=False, allow_blank=True, default="")


class SubscriptionCreateSerializer(serializers.Serializer):
    customer = serializers.CharField()
    plan = serializers.CharField()
    payment_method = serializers.CharField(required=False, allow_null=True, default=None)
    ip_country = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default="", max_length=8, help_text=IP_COUNTRY_HELP
    )


class ExtendSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=3650)


class EntitlementSerializer(serializers.Serializer):
    plan = serializers.CharField()
    plan_code = serializers.CharField()
    source = serializers.ChoiceField(choices=["one_off", "subscription"])
    subscription = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    access_until = serializers.DateTimeField(allow_null=True)


class EntitlementsSerializer(serializers.Serializer):
    entitled = serializers.BooleanField()
    entitlements = EntitlementSerializer(many=True)
    token = serializers.CharField(
        read_only=True,
        help_text="A JWT (EdDSA, `kid` in its header) of these entitlements for license and CDN servers to "
        "check offline against /.well-known/jwks.json: `sub` the customer id, `ent` the entitlements as "
        "above, `iat`, `exp` (5 minutes).",
    )


class CustomerErasureSerializer(serializers.Serializer):
    id = serializers.CharField()
    erased_at = serializers.DateTimeField()
