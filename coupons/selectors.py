"""Reads of coupons' state."""

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db.models import Q

from coupons.models import CodeGeneration, Coupon, Discount
from integrations.kernel import clock
from integrations.kernel.errors import NotFound


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


def code_generation_get(*, coupon_id: str, generation_id: str) -> CodeGeneration:
    """A campaign's generation by its public id; another campaign's, or none, is 404."""
    generation = CodeGeneration.objects.filter(coupon_id=coupon_id, public_id=generation_id).first()
    if generation is None:
        raise NotFound(f"No code generation '{generation_id}' of coupon '{coupon_id}'.")
    return generation


# plans registers how to offer its plans to the campaign form (coupons knows plans only by id):
# a callable taking the ids already chosen and answering (id, label) pairs.
_plan_choices: list[Callable[[list[str]], list[tuple[str, str]]]] = []


def plan_choices_register(choices: Callable[[list[str]], list[tuple[str, str]]]) -> None:
    if choices not in _plan_choices:
        _plan_choices.append(choices)


def plan_choices(*, selected: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The plans a campaign may be limited to, as (id, label), the chosen ones included."""
    selected = sorted({str(plan_id) for plan_id in selected})
    found = [choice for provider in _plan_choices for choice in provider(selected)]
    known = {plan_id for plan_id, _ in found}
    return found + [(plan_id, plan_id) for plan_id in selected if plan_id not in known]
