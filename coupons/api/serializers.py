from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from coupons.models import CodeGeneration, Coupon
from coupons.representations import code_generation_repr, coupon_payload
from integrations.kernel.api.fields import DESCRIPTION_MAX_LENGTH, ColumnIntegerField
from payments.api.fields import MONEY_SCHEMA, MoneyOutputField

_TRIAL_SCHEMA = {
    "type": "object",
    "required": ["length", "unit"],
    "properties": {"length": {"type": "integer"}, "unit": {"type": "string", "enum": Coupon.TrialUnit.values}},
}
_DISCOUNT_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": Coupon.DiscountType.values},
        "percent_off": {"type": "string", "example": "25", "description": "percent: a decimal string, 0 < p <= 100."},
        "amounts_off": {"type": "array", "items": MONEY_SCHEMA, "description": "amount: one per currency."},
        "trial": _TRIAL_SCHEMA,
    },
}


@extend_schema_field(_DISCOUNT_SCHEMA)
class DiscountTermsField(serializers.DictField):
    """The discount as given: amounts stay strings and the service parses them (floats refused)."""


class CouponSerializer(serializers.Serializer):
    """The Coupon object of API.md, exactly as `coupon_payload` gives it."""

    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.ChoiceField(choices=Coupon.Kind.choices)
    code = serializers.CharField(allow_null=True, help_text="single_code campaigns: the shared code.")
    code_template = serializers.CharField(allow_null=True, help_text="bulk campaigns: e.g. SPRING-********.")
    discount = DiscountTermsField()
    duration = serializers.ChoiceField(choices=Coupon.Duration.choices)
    duration_cycles = serializers.IntegerField(allow_null=True)
    applies_to_plans = serializers.ListField(child=serializers.CharField(), help_text="Plan ids; empty = all.")
    redemption_target = serializers.ChoiceField(choices=Coupon.Target.choices)
    max_redemptions = serializers.IntegerField(allow_null=True)
    max_redemptions_per_customer = serializers.IntegerField()
    redeem_by = serializers.DateTimeField(allow_null=True)
    state = serializers.ChoiceField(choices=["active", "expired", "maxed_out"])
    times_redeemed = serializers.IntegerField()

    def to_representation(self, instance):
        return coupon_payload(instance)


# What a customer (or operator) types is at most a code's length, give or take the spaces around it.
_TYPED_CODE_MAX_LENGTH = 255
# More plans than a catalogue has; a longer list is an attack on the query that checks them.
APPLIES_TO_PLANS_MAX = 1000


def _plan_ids(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=64), max_length=APPLIES_TO_PLANS_MAX, **kwargs)


class CouponCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX_LENGTH)
    kind = serializers.ChoiceField(choices=Coupon.Kind.choices)
    code = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=_TYPED_CODE_MAX_LENGTH,
        help_text="single_code: the code.",
    )
    code_template = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=Coupon._meta.get_field("code_template").max_length,
        help_text="bulk: fixed characters and at least 8 '*' random positions, e.g. SPRING-********.",
    )
    discount = DiscountTermsField()
    duration = serializers.ChoiceField(choices=Coupon.Duration.choices, required=False, default="once")
    duration_cycles = ColumnIntegerField(
        model=Coupon, field="duration_cycles", min_value=1, required=False, allow_null=True, default=None
    )
    applies_to_plans = _plan_ids(required=False, default=list)
    redemption_target = serializers.ChoiceField(choices=Coupon.Target.choices, required=False, default="subscription")
    max_redemptions = ColumnIntegerField(
        model=Coupon, field="max_redemptions", min_value=1, required=False, allow_null=True, default=None
    )
    max_redemptions_per_customer = ColumnIntegerField(
        model=Coupon, field="max_redemptions_per_customer", min_value=1, required=False, default=1
    )
    redeem_by = serializers.DateTimeField(required=False, allow_null=True, default=None)


class CouponUpdateSerializer(serializers.Serializer):
    """Only the fields sent change. The discount terms (discount, duration, duration_cycles,
    redemption_target) are locked once the coupon has been redeemed (422 coupon_terms_locked)."""

    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    redeem_by = serializers.DateTimeField(required=False, allow_null=True)
    max_redemptions = ColumnIntegerField(
        model=Coupon, field="max_redemptions", min_value=1, required=False, allow_null=True
    )
    applies_to_plans = _plan_ids(required=False)
    code_template = serializers.CharField(
        required=False,
        max_length=Coupon._meta.get_field("code_template").max_length,
        help_text="bulk: the template of codes made from now on (at least 8 '*').",
    )
    discount = DiscountTermsField(required=False)
    duration = serializers.ChoiceField(choices=Coupon.Duration.choices, required=False)
    duration_cycles = ColumnIntegerField(
        model=Coupon, field="duration_cycles", min_value=1, required=False, allow_null=True
    )
    redemption_target = serializers.ChoiceField(choices=Coupon.Target.choices, required=False)


class CouponRestoreSerializer(serializers.Serializer):
    redeem_by = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Needed when the old redeem_by has passed."
    )


class CouponValidateRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=_TYPED_CODE_MAX_LENGTH)
    plan = serializers.CharField(max_length=64)


class CouponTrialSerializer(serializers.Serializer):
    length = serializers.IntegerField()
    unit = serializers.ChoiceField(choices=Coupon.TrialUnit.choices)


class CouponPreviewSerializer(serializers.Serializer):
    subtotal = MoneyOutputField(help_text="The plan's price, before the discount.")
    discount = MoneyOutputField()
    tax = MoneyOutputField(help_text="The tax of the invoice: included in the total (inclusive plans) or added to it.")
    total = MoneyOutputField(help_text="What will be charged: after the discount, tax added for exclusive plans.")
    trial = CouponTrialSerializer(required=False, help_text="free_trial coupons: the trial the signup gets.")


class CouponValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    reason = serializers.ChoiceField(
        allow_null=True,
        choices=[
            "coupon_not_found",
            "coupon_expired",
            "coupon_maxed_out",
            "coupon_already_redeemed",
            "coupon_not_applicable",
            "coupon_currency_unsupported",
        ],
    )
    discount = DiscountTermsField(allow_null=True)
    preview = CouponPreviewSerializer(allow_null=True, help_text="The first invoice in the customer's currency.")


class CouponRedeemRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=_TYPED_CODE_MAX_LENGTH)


class AppliedDiscountSerializer(serializers.Serializer):
    """A discount on the customer's account."""

    coupon = serializers.CharField(source="coupon_id")
    scope = serializers.SerializerMethodField()
    cycles_remaining = serializers.IntegerField(allow_null=True, help_text="Invoices it still covers; null = forever.")
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_scope(self, discount) -> str:
        return "subscription" if discount.subscription_id else "account"


class CouponRedemptionSerializer(serializers.Serializer):
    coupon = CouponSerializer()
    discount = AppliedDiscountSerializer()


class CodeGenerationSerializer(serializers.Serializer):
    """A background code generation and how far it has got."""

    id = serializers.CharField(help_text="cgn_...")
    coupon = serializers.CharField()
    status = serializers.ChoiceField(choices=CodeGeneration.Status.choices)
    requested = serializers.IntegerField()
    generated = serializers.IntegerField(help_text="Codes written so far; it grows batch by batch.")
    error = serializers.CharField(allow_null=True, help_text="failed: why.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        return code_generation_repr(instance)


class CodeGenerationQueuedSerializer(serializers.Serializer):
    generation = CodeGenerationSerializer()
