from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments.api.fields import MONEY_SCHEMA, money_repr
from plans.models import Plan
from plans.selectors import plan_current_prices


class TrialSerializer(serializers.Serializer):
    length = serializers.IntegerField()
    unit = serializers.ChoiceField(choices=Plan.TrialUnit.choices)
    requires_payment_method = serializers.BooleanField(default=True)


class _PlanBaseSerializer(serializers.ModelSerializer):
    interval = serializers.SerializerMethodField()
    trial = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=Plan.Interval.choices, allow_null=True))
    def get_interval(self, plan):
        return plan.interval or None

    @extend_schema_field(TrialSerializer(allow_null=True))
    def get_trial(self, plan):
        if not plan.has_trial:
            return None
        return {
            "length": plan.trial_length,
            "unit": plan.trial_unit,
            "requires_payment_method": plan.trial_requires_payment_method,
        }


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
    "status",
]


class PlanSerializer(_PlanBaseSerializer):
    """The operator's view: every current price."""

    prices = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [*_PLAN_FIELDS, "prices", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": MONEY_SCHEMA})
    def get_prices(self, plan):
        return [money_repr(price.amount) for price in plan_current_prices(plan=plan)]


class CustomerPlanSerializer(_PlanBaseSerializer):
    """A customer's view: the price in their currency."""

    price = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [*_PLAN_FIELDS, "price"]
        read_only_fields = fields

    @extend_schema_field(MONEY_SCHEMA)
    def get_price(self, plan):
        return money_repr(plan.prices_in_currency[0].amount)


class PlanWriteSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Plan.Kind.choices)
    interval = serializers.ChoiceField(choices=Plan.Interval.choices, required=False, allow_null=True)
    interval_count = serializers.IntegerField(required=False, default=1)
    billing_cycles = serializers.IntegerField(required=False, allow_null=True, default=None)
    access_days = serializers.IntegerField(required=False, allow_null=True, default=None)
    trial = TrialSerializer(required=False, allow_null=True, default=None)
    prices = serializers.ListField(
        child=serializers.DictField(), help_text='[{"amount": "9.99", "currency": "EUR"}, ...]'
    )


class PlanUpdateSerializer(PlanWriteSerializer):
    """Every field optional; `prices`, when given, is the whole new set of current prices."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)
