"""The discounts redemptions give on invoices, counted down per cycle (the billing engine asks for them)."""

from django.db.models import Case, F, Q, Value, When
from moneyed import Money

from coupons.arithmetic import CurrencyNotSupported, DiscountTerms, combine, discount_for
from coupons.models import Coupon, Discount


def coupon_terms(coupon: Coupon) -> DiscountTerms | None:
    if coupon.discount_type == Coupon.DiscountType.PERCENT:
        return DiscountTerms(type="percent", percent_off=coupon.percent_off, label=coupon.name)
    if coupon.discount_type == Coupon.DiscountType.AMOUNT:
        amounts = {row.amount.currency.code: row.amount for row in coupon.amounts.all()}
        return DiscountTerms(type="amount", amounts_off=amounts, label=coupon.name)
    return None  # a free trial changes the trial, not an amount


def discount_for_invoice(*, subscription_id: str, customer_id: str, purpose: str, amount: Money) -> Money:
    """The active discounts on this subscription and its customer's account, combined
    (subscription-level first, then account-level on what is left), each counting down a cycle."""
    if purpose not in ("first", "renewal") or amount.amount <= 0:
        return Money(0, amount.currency)
    active = list(
        Discount.objects.select_for_update()
        .select_related("coupon")
        .filter(
            Q(subscription_id=subscription_id) | Q(subscription_id="", customer_id=customer_id),
            active=True,
        )
    )
    on_subscription = next((d for d in active if d.subscription_id), None)
    on_account = next((d for d in active if not d.subscription_id), None)
    try:
        total = combine(
            subtotal=amount,
            subscription=coupon_terms(on_subscription.coupon) if on_subscription else None,
            account=coupon_terms(on_account.coupon) if on_account else None,
        )
    except CurrencyNotSupported:
        total = Money(0, amount.currency)
    for used in (d for d in (on_subscription, on_account) if d is not None):
        if used.cycles_remaining is not None:
            Discount.objects.filter(pk=used.pk).update(
                cycles_remaining=F("cycles_remaining") - 1,
                active=Case(When(cycles_remaining__gt=1, then=Value(True)), default=Value(False)),
            )
    return total


def discount_preview(*, coupon: Coupon, amount: Money) -> Money:
    terms = coupon_terms(coupon)
    return discount_for(terms=terms, subtotal=amount) if terms else Money(0, amount.currency)
