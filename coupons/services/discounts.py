"""The discounts redemptions give on invoices, counted down per cycle (the billing engine asks for them)."""

from dataclasses import dataclass

from django.db.models import Case, F, Q, Value, When
from moneyed import Money

from coupons.arithmetic import CurrencyNotSupported, DiscountTerms, combine_parts, discount_for
from coupons.models import Coupon, Discount, DiscountGiven, Redemption


@dataclass(frozen=True)
class Share:
    """One redemption's part of an invoice's discount."""

    redemption_id: int
    coupon_id: str
    amount: Money


@dataclass(frozen=True)
class InvoiceDiscount:
    """The discount on one invoice and who gave it (`discount_given_record` keeps that once the
    invoice exists)."""

    total: Money
    shares: tuple[Share, ...] = ()


def coupon_terms(coupon: Coupon) -> DiscountTerms | None:
    if coupon.discount_type == Coupon.DiscountType.PERCENT:
        return DiscountTerms(type="percent", percent_off=coupon.percent_off, label=coupon.name)
    if coupon.discount_type == Coupon.DiscountType.AMOUNT:
        amounts = {row.amount.currency.code: row.amount for row in coupon.amounts.all()}
        return DiscountTerms(type="amount", amounts_off=amounts, label=coupon.name)
    return None  # a free trial changes the trial, not an amount


def discount_for_invoice(*, subscription_id: str, customer_id: str, purpose: str, amount: Money) -> InvoiceDiscount:
    """The active discounts on this subscription and its customer's account, combined
    (subscription-level first, to the subtotal; then account-level on what is left, so together
    they never exceed it), each counting down a cycle."""
    nothing = InvoiceDiscount(total=Money(0, amount.currency))
    if purpose not in ("first", "renewal") or amount.amount <= 0:
        return nothing
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
    for used in (d for d in (on_subscription, on_account) if d is not None):
        if used.cycles_remaining is not None:
            Discount.objects.filter(pk=used.pk).update(
                cycles_remaining=F("cycles_remaining") - 1,
                active=Case(When(cycles_remaining__gt=1, then=Value(True)), default=Value(False)),
            )
    try:
        parts = combine_parts(
            subtotal=amount,
            subscription=coupon_terms(on_subscription.coupon) if on_subscription else None,
            account=coupon_terms(on_account.coupon) if on_account else None,
        )
    except CurrencyNotSupported:
        return nothing
    shares = tuple(
        Share(redemption_id=used.redemption_id, coupon_id=used.coupon_id, amount=part)
        for used, part in zip((on_subscription, on_account), parts, strict=True)
        if used is not None and part.amount > 0
    )
    return InvoiceDiscount(total=parts[0] + parts[1], shares=shares)


def pass_discount(*, redemption: Redemption | None, amount: Money) -> InvoiceDiscount:
    """What a redeemed coupon takes off a pass bought now (the same figure `discount_preview` showed)."""
    if redemption is None:
        return InvoiceDiscount(total=Money(0, amount.currency))
    total = discount_preview(coupon=redemption.coupon, amount=amount)
    if total.amount <= 0:
        return InvoiceDiscount(total=total)
    return InvoiceDiscount(
        total=total, shares=(Share(redemption_id=redemption.pk, coupon_id=redemption.coupon_id, amount=total),)
    )


def discount_given_record(*, invoice, discount: InvoiceDiscount) -> None:
    """Keep who gave the invoice's discount (once: an invoice billed again finds its rows)."""
    DiscountGiven.objects.bulk_create(
        [
            DiscountGiven(invoice=invoice, redemption_id=s.redemption_id, coupon_id=s.coupon_id, amount=s.amount)
            for s in discount.shares
        ],
        ignore_conflicts=True,
    )


def discount_preview(*, coupon: Coupon, amount: Money) -> Money:
    terms = coupon_terms(coupon)
    return discount_for(terms=terms, subtotal=amount) if terms else Money(0, amount.currency)
