"""How coupons look outside: in the API and in event payloads."""

from coupons.models import CodeGeneration, Coupon
from coupons.selectors import coupon_state
from integrations.kernel.representation import datetime_repr
from payments.currency import money_repr


def coupon_discount_repr(coupon: Coupon) -> dict:
    """What a coupon takes off, as the API and events show it."""
    discount: dict = {"type": coupon.discount_type}
    if coupon.discount_type == Coupon.DiscountType.PERCENT:
        discount["percent_off"] = f"{coupon.percent_off.normalize():f}"
    elif coupon.discount_type == Coupon.DiscountType.AMOUNT:
        discount["amounts_off"] = [money_repr(row.amount) for row in coupon.amounts.all().order_by("amount_currency")]
    else:
        discount["trial"] = {"length": coupon.trial_length, "unit": coupon.trial_unit}
    return discount


def coupon_payload(coupon: Coupon) -> dict:
    shared = coupon.codes.filter(shared=True).first() if coupon.kind == Coupon.Kind.SINGLE_CODE else None
    return {
        "id": coupon.id,
        "name": coupon.name,
        "description": coupon.description,
        "kind": coupon.kind,
        "code": shared.code if shared else None,
        "code_template": coupon.code_template or None,
        "discount": coupon_discount_repr(coupon),
        "duration": coupon.duration,
        "duration_cycles": coupon.duration_cycles,
        "applies_to_plans": sorted(coupon.applies_to_plans.values_list("id", flat=True)),
        "redemption_target": coupon.redemption_target,
        "max_redemptions": coupon.max_redemptions,
        "max_redemptions_per_customer": coupon.max_redemptions_per_customer,
        "redeem_by": coupon.redeem_by,
        "state": coupon_state(coupon),
        "times_redeemed": coupon.times_redeemed,
    }


def code_generation_repr(generation: CodeGeneration) -> dict:
    """A background code generation and how far it has got."""
    return {
        "id": generation.public_id,
        "coupon": generation.coupon_id,
        "status": generation.status,
        "requested": generation.requested,
        "generated": generation.generated,
        "error": generation.error or None,
        "created_at": generation.created_at,
        "finished_at": generation.finished_at,
    }


def discount_repr(discount) -> dict:
    """A discount a customer holds (the export of their data)."""
    return {
        "coupon": discount.coupon_id,
        "code": discount.redemption.code.code,
        "subscription": discount.subscription_id or None,
        "cycles_remaining": discount.cycles_remaining,
        "active": discount.active,
        "created_at": datetime_repr(discount.created_at),
    }
