"""Reads of coupons' state."""

from datetime import datetime

from django.db.models import Q

from coupons.models import Coupon, Discount
from integrations.kernel import clock


def discounted(*, subscription_ids: list[str], customer_ids: list[str]) -> set[str]:
    """The subscription ids and customer ids among these that have an active discount (on the
    subscription, or on the whole account)."""
    rows = (
        Discount.objects.filter(active=True)
        .filter(Q(subscription_id__in=subscription_ids) | Q(subscription_id="", customer_id__in=customer_ids))
        .values_list("subscription_id", "customer_id")
    )
    return {subscription_id or customer_id for subscription_id, customer_id in rows}


def coupon_state(coupon: Coupon, at: datetime | None = None) -> str:
    at = at or clock.now()
    if coupon.expired_at is not None or (coupon.redeem_by is not None and coupon.redeem_by <= at):
        return "expired"
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        return "maxed_out"
    return "active"
