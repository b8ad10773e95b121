"""MRR: the one rule for a subscription's monthly recurring value, and the movement written in the
same transaction whenever that value changes (`subscription_mrr_sync`, called by every path that
changes a subscription's status or price: checkout, settlement, renewal, dunning, changes,
pauses, imports, the end of a subscription).

Definitions (ChartMogul's, API.md "Metrics"): the monthly value of an `active` or `past_due`
subscription at the price it pays, net of tax, with FOREVER discounts deducted (once and repeating
ones are not), normalized to a month (annual ÷ 12; any interval and count by the Gregorian average
month, plans.periods); trials, paused, incomplete and ended subscriptions are worth 0, so are free
prices. One-off passes are not subscriptions and never have MRR.

Net of tax: a tax-exclusive price is its own net; a tax-inclusive one is net of the tax the tax
module computes on it, `payments.tax.rules.tax_lines` (round(gross / (1 + rate)), half-up), at the
rate of the subscription's latest invoice for that price (so a reverse charge, rate 0, keeps the
gross); a subscription never invoiced at that price (an import) takes the rate `price_quote` gives
its customer today. Each subscription's value is quantized to its currency's minor unit.

Movements are classified for the customer, per currency: a value from 0 is `new` (the customer's
first MRR ever), `reactivation` (they had MRR before and have none now) or `expansion` (their other
subscriptions have MRR); a value to 0 is `churn` when it leaves the customer none, else
`contraction`; a change between two values is expansion or contraction.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum
from moneyed import Money

from coupons.arithmetic import CurrencyNotSupported, combine
from coupons.models import Coupon, Discount
from coupons.services import coupon_terms
from integrations.kernel import clock
from payments.currency import quantize
from payments.models import InvoiceLine
from payments.services import Buyer, price_quote
from payments.tax.rules import tax_lines
from plans.models import MrrMovement, Plan, PlanPrice, Subscription, SubscriptionInvoice
from plans.periods import interval_months

Status = Subscription.Status
Kind = MrrMovement.Kind
MRR_STATUSES = (Status.ACTIVE, Status.PAST_DUE)
ZERO = Decimal(0)


@dataclass(frozen=True)
class TaxBasis:
    """How a price's net of tax is found: its rate, and whether the price includes it."""

    rate: Decimal
    inclusive: bool


def monthly_value(
    *, amount: Decimal, currency: str, interval: str, interval_count: int, forever_discount: Decimal, tax: TaxBasis
) -> Decimal:
    """The monthly recurring value of one price (pure arithmetic, the one formula): the price less
    its forever discount (discounts come before tax), net of tax, over the months its interval
    lasts, quantized to the currency's minor unit."""
    charged = max(ZERO, quantize(amount, currency) - quantize(forever_discount, currency))
    net = charged
    if tax.inclusive and tax.rate and charged:
        net = tax_lines(amounts=[charged], currency=currency, rate=tax.rate, behavior="inclusive")[0].net
    return quantize(net / interval_months(interval, interval_count), currency)


def forever_discount(*, subscription: Subscription, amount: Money, at: datetime | None = None) -> Money:
    """The part of `amount` that the subscription's FOREVER discounts take off (its own, then its
    account's, as invoices combine them); those redeemed after `at` are left out."""
    found = Discount.objects.filter(
        coupon__duration=Coupon.Duration.FOREVER,
        customer_id=subscription.customer_id,
        subscription_id__in=[subscription.id, ""],
    ).select_related("coupon")
    found = found.filter(created_at__lte=at) if at is not None else found.filter(active=True)
    found = list(found.order_by("created_at"))
    own = next((d for d in found if d.subscription_id), None)
    account = next((d for d in found if not d.subscription_id), None)
    if own is None and account is None:
        return Money(0, amount.currency)
    try:
        return combine(
            subtotal=amount,
            subscription=coupon_terms(own.coupon) if own else None,
            account=coupon_terms(account.coupon) if account else None,
        )
    except CurrencyNotSupported:
        return Money(0, amount.currency)


def tax_basis(*, subscription: Subscription, price: PlanPrice, link: SubscriptionInvoice | None = None) -> TaxBasis:
    """The rate and behaviour of the subscription's latest invoice at this price (`link`'s, if given),
    or, never invoiced at it, what the tax module would charge its customer today."""
    if link is None:
        link = (
            SubscriptionInvoice.objects.filter(subscription_id=subscription.id, price_id=price.pk)
            .order_by("-period_start")
            .first()
        )
    if link is not None:
        line = (
            InvoiceLine.objects.filter(invoice_id=link.invoice_id)
            .select_related("invoice")
            .only("tax_rate", "invoice__tax_inclusive")
            .order_by("position")
            .first()
        )
        if line is not None:
            return TaxBasis(rate=line.tax_rate, inclusive=line.invoice.tax_inclusive)
    plan = price.plan
    quote = price_quote(
        buyer=Buyer.of(subscription.customer),
        amount=price.amount,
        behavior=plan.tax_behavior,
        category=plan.tax_category,
    )
    return TaxBasis(rate=quote.rate, inclusive=quote.inclusive)


def subscription_monthly_value(
    *,
    subscription: Subscription,
    status: str | None = None,
    price: PlanPrice | None = None,
    at: datetime | None = None,
    link: SubscriptionInvoice | None = None,
) -> Decimal:
    """The one place a subscription's MRR is computed: 0 unless `status` (default: its own) is
    active or past due on a recurring plan, else `monthly_value` of `price` (default: its own) with
    the forever discounts it had at `at` (default: those active now), net of tax (`tax_basis`)."""
    status = status or subscription.status
    price = price or subscription.price
    plan = price.plan
    if status not in MRR_STATUSES or plan.kind != Plan.Kind.RECURRING or price.amount.amount <= 0:
        return ZERO
    currency = price.currency
    discount = forever_discount(subscription=subscription, amount=price.amount, at=at)
    return monthly_value(
        amount=price.amount.amount,
        currency=currency,
        interval=plan.interval,
        interval_count=plan.interval_count,
        forever_discount=discount.amount,
        tax=tax_basis(subscription=subscription, price=price, link=link),
    )


def movement_kind(*, before: Decimal, after: Decimal, others: Decimal, had_mrr_before: bool) -> str:
    """The kind of a change from `before` to `after` for a customer whose other subscriptions (same
    currency) are worth `others`; `had_mrr_before`: the customer had MRR at some time before."""
    if before == ZERO:
        if others > ZERO:
            return Kind.EXPANSION
        return Kind.REACTIVATION if had_mrr_before else Kind.NEW
    if after == ZERO:
        return Kind.CONTRACTION if others > ZERO else Kind.CHURN
    return Kind.EXPANSION if after > before else Kind.CONTRACTION


def movement_row(
    sub: Subscription,
    *,
    before: Decimal,
    after: Decimal,
    others: Decimal,
    had_mrr_before: bool,
    from_trial: bool,
    at: datetime,
    service_period_start: datetime,
) -> MrrMovement:
    """The (unsaved) movement of a subscription's value from `before` to `after`: as the services
    write it when it happens and as the rebuild writes it from history."""
    return MrrMovement(
        subscription_id=sub.id,
        customer_id=sub.customer_id,
        currency=sub.currency,
        kind=movement_kind(before=before, after=after, others=others, had_mrr_before=had_mrr_before),
        amount=abs(after - before),
        mrr_before=before,
        mrr_after=after,
        from_trial=from_trial and before == ZERO,
        occurred_at=at,
        service_period_start=service_period_start,
    )


def subscription_mrr_sync(
    *,
    subscription: Subscription,
    at: datetime | None = None,
    service_period_start: datetime | None = None,
    from_trial: bool = False,
    link: SubscriptionInvoice | None = None,
) -> MrrMovement | None:
    """After a change to a (locked) subscription's status or price: its value by the one rule; if it
    moved, the movement (at `at`, default now) and the new value, written in the caller's
    transaction. None when the value is unchanged (nothing is written)."""
    sub = subscription
    after = subscription_monthly_value(subscription=sub, link=link)
    before = Decimal(sub.mrr)
    if after == before:
        return None
    at = at or clock.now()
    others = (
        Subscription.objects.filter(customer_id=sub.customer_id, currency=sub.currency, mrr__gt=0)
        .exclude(pk=sub.pk)
        .aggregate(total=Sum("mrr"))["total"]
        or ZERO
    )
    had = before > ZERO or MrrMovement.objects.filter(customer_id=sub.customer_id, currency=sub.currency).exists()
    movement = movement_row(
        sub,
        before=before,
        after=after,
        others=others,
        had_mrr_before=had,
        from_trial=from_trial,
        at=at,
        service_period_start=service_period_start or at,
    )
    movement.save()
    Subscription.objects.filter(pk=sub.pk).update(mrr=after)
    sub.mrr = after
    return movement
