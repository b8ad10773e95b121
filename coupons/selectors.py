"""Reads of coupons' state for the billing engine."""

from django.db.models import Q

from coupons.models import Discount


def discounted(*, subscription_ids: list[str], customer_ids: list[str]) -> set[str]:
    """The subscription ids and customer ids among these that have an active discount (on the
    subscription, or on the whole account)."""
    rows = (
        Discount.objects.filter(active=True)
        .filter(Q(subscription_id__in=subscription_ids) | Q(subscription_id="", customer_id__in=customer_ids))
        .values_list("subscription_id", "customer_id")
    )
    return {subscription_id or customer_id for subscription_id, customer_id in rows}
