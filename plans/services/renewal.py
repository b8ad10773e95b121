"""Renewal: the invoice of one period (discounts taken off), the work due on one subscription
(`subscription_bill`, which the engine calls for each claimed row), and the advance of renewed
subscriptions to their next period, the one step both the one-by-one and the batch path take."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from moneyed import Money

from coupons.services import discount_for_invoice, discount_given_record
from integrations.kernel import clock
from integrations.kernel.db import update_rows
from integrations.services import events_emit
from payments.models import Invoice, Payment, PaymentMethod
from payments.services import (
    LineSpec,
    TaxTerms,
    invoice_create,
    invoice_finalize,
    invoice_pay,
    payment_cancel,
    payment_retry,
)
from plans import notifications
from plans.locks import subscription_lock
from plans.models import DUE_STATUSES, PlanPrice, Subscription, SubscriptionInvoice
from plans.periods import period_end
from plans.representations import subscription_repr
from plans.selectors import plan_current_price, subscription_card
from plans.services.dunning import renewal_without_card, retry_due
from plans.services.mrr import MRR_STATUSES, subscription_mrr_sync
from plans.services.subscriptions import subscription_emit, subscription_end, subscription_pause_locked

Status = Subscription.Status
Purpose = SubscriptionInvoice.Purpose
# While a renewal's charge is under way, other workers leave the subscription alone this long.
CLAIM_LEASE = timedelta(minutes=10)


def still_claimed(as_of: datetime) -> Q:
    """Rows a run at `as_of` may still bill: due, or under the lease this run took. A run that
    outlived its lease finds the rows the next run claimed (or renewed) gone from it."""
    return Q(next_billing_at__lte=as_of) | Q(next_billing_at=as_of + CLAIM_LEASE)


def renewal_source(sub_id: str, start: datetime) -> str:
    """The renewal invoice's source: unique per subscription and period, so a rerun finds it."""
    return f"{sub_id}:{Purpose.RENEWAL}:{start.isoformat()}"


def tax_terms(plan, card: PaymentMethod | None, ip_country: str = "") -> TaxTerms:
    """The tax terms of a sale of `plan` charged to `card`: the plan's behaviour, the card's issuing
    country and the app's IP country as evidence. Every invoice of a plan is built with these."""
    return TaxTerms(
        behavior=plan.tax_behavior,
        category=plan.tax_category,
        card_country=card.country if card is not None else "",
        ip_country=ip_country,
    )


def period_invoice(
    *,
    sub: Subscription,
    purpose: str,
    start: datetime,
    end: datetime,
    price: PlanPrice,
    card: PaymentMethod | None,
    amount: Money | None = None,
    description: str | None = None,
    ip_country: str = "",
) -> Invoice:
    """The invoice for one period (or an upgrade), finalized, with the discounts coupons give on it,
    taxed on the evidence of the billing country, the `card` it will be charged to and the app's
    `ip_country`. Unique per subscription, purpose and period start, so billing the same period
    again finds it instead of making another."""
    source = f"{sub.id}:{purpose}:{start.isoformat()}"
    existing = Invoice.objects.filter(source=source).first()
    if existing is not None:
        return existing
    plan = price.plan
    gross = amount if amount is not None else price.amount
    discount = discount_for_invoice(subscription_id=sub.id, customer_id=sub.customer_id, purpose=purpose, amount=gross)
    line = LineSpec(
        description=description or f"{plan.name} ({start:%Y-%m-%d} to {end:%Y-%m-%d})",
        unit_amount=gross,
        discount=discount.total,
        reference=f"price:{price.pk}",
        period_start=start,
        period_end=end,
    )
    invoice = invoice_create(
        customer=sub.customer,
        currency=sub.currency,
        lines=[line],
        terms=tax_terms(plan, card, ip_country),
        source=source,
        description=plan.name,
    )
    discount_given_record(invoice=invoice, discount=discount)
    SubscriptionInvoice.objects.get_or_create(
        invoice=invoice,
        defaults={"subscription": sub, "purpose": purpose, "period_start": start, "period_end": end, "price": price},
    )
    return invoice_finalize(invoice=invoice)


def renewal_price(sub: Subscription) -> PlanPrice:
    """What the next period costs: a pending downgrade, the plan's current price when the operator
    moved the subscriber to it, or the price the subscriber has."""
    if sub.pending_price_id:
        return sub.pending_price
    if sub.move_to_current_price:
        return plan_current_price(plan=sub.plan, currency=sub.currency) or sub.price
    return sub.price


def subscription_bill(*, subscription_id: str, as_of: datetime, claimed: bool = False) -> str:
    """Do the work due on one subscription: lock it (SKIP LOCKED: if another worker has it ->
    "skipped"), decide, write, and charge off-session after its rows are committed. `claimed`:
    the engine already leased it to this worker, so it is billed although its due time now
    shows the lease. Returns what it did."""
    invoice = card = None
    with transaction.atomic():
        due = Subscription.objects.filter(pk=subscription_id, status__in=DUE_STATUSES)
        due = due.filter(still_claimed(as_of) if claimed else Q(next_billing_at__lte=as_of))
        sub = due.select_for_update(skip_locked=True, of=("self",)).select_related("plan", "price", "customer").first()
        if sub is None:
            return "skipped"
        outcome, invoice, card = _bill_locked(sub=sub, as_of=as_of)
    if invoice is not None and invoice.status == Invoice.Status.OPEN:
        if card is None:
            renewal_without_card(subscription_id=subscription_id, invoice=invoice)
            return "past_due"
        payment = (
            invoice.payments.filter(status__in=(Payment.Status.FAILED, Payment.Status.CANCELED))
            .order_by("-created_at")
            .first()
        )
        if payment is not None:
            payment_retry(payment=payment, payment_method=card, off_session=True)
        else:
            invoice_pay(invoice=invoice, payment_method=card, off_session=True)
    return outcome


def _bill_locked(*, sub: Subscription, as_of: datetime):
    """Inside the claim: returns (outcome, invoice to charge or None, card)."""
    if sub.status == Status.INCOMPLETE:
        return _expire_incomplete(sub), None, None
    if sub.status == Status.PAST_DUE:
        return retry_due(sub, as_of=as_of, lease=CLAIM_LEASE)
    if sub.status not in (Status.TRIALING, Status.ACTIVE):
        sub.next_billing_at = None
        sub.save(update_fields=["next_billing_at", "updated_at"])
        return "idle", None, None

    end = sub.current_period_end
    if sub.cancel_at_period_end:
        subscription_end(sub, ended_at=end, canceled_at=end)
        return "canceled", None, None
    if sub.plan.billing_cycles and sub.cycles_billed >= sub.plan.billing_cycles:
        subscription_end(sub, status=Status.ENDED, ended_at=end)
        return "ended", None, None

    card = subscription_card(sub)
    if sub.status == Status.TRIALING and card is None:
        return _trial_ends_without_card(sub), None, None

    price = renewal_price(sub)
    invoice = period_invoice(
        sub=sub,
        purpose=Purpose.RENEWAL,
        start=end,
        end=period_end(price.plan, end, anchor=end),
        price=price,
        card=card,
    )
    sub.refresh_from_db()
    if invoice.status != Invoice.Status.OPEN:  # a zero invoice, paid at once: the hook advanced the period
        return "renewed", None, None
    sub.next_billing_at = as_of + CLAIM_LEASE  # other workers leave it while the charge is under way
    sub.save(update_fields=["next_billing_at", "updated_at"])
    return "renewing", invoice, card


def _expire_incomplete(sub: Subscription) -> str:
    """The first payment waited 23 hours for 3-D Secure: give up on it."""
    link = sub.invoice_links.filter(purpose=Purpose.FIRST).select_related("invoice").first()
    payment = link.invoice.payments.filter(status=Payment.Status.REQUIRES_ACTION).first() if link else None
    sub.next_billing_at = None
    sub.save(update_fields=["next_billing_at", "updated_at"])
    if payment is not None:  # its cancel at the gateway fails the payment, which expires the subscription
        transaction.on_commit(lambda: payment_cancel(payment=payment, reason="3-D Secure not completed in time"))
    else:
        subscription_end(sub, status=Status.INCOMPLETE_EXPIRED, reason=Subscription.CancelReason.INCOMPLETE)
    return "incomplete_expired"


def _trial_ends_without_card(sub: Subscription) -> str:
    if sub.plan.trial_end_without_card == "pause":
        subscription_pause_locked(sub, reason="trial_ended_without_payment_method")
        return "paused"
    subscription_end(sub, reason=Subscription.CancelReason.TRIAL_ENDED, ended_at=sub.trial_end)
    return "canceled"


def renewals_advance(*, links: list[SubscriptionInvoice]) -> list[Subscription]:
    """Paid renewal invoices move their subscriptions on to the period they paid for, with the
    price they paid (a downgrade or a move to the current price takes effect), active again if
    they were past due: the one step for a single renewal and a batch of them, in a few
    statements. A link for a period already taken into account changes nothing."""
    subs = Subscription.objects.select_for_update(of=("self",)).select_related("plan", "price")
    by_id = {sub.id: sub for sub in subs.filter(pk__in=[link.subscription_id for link in links])}
    advanced, events, fields = [], [], set(_ADVANCED_FIELDS)
    revalued = []  # (sub, link, was trialing): only these can change MRR; a plain renewal costs nothing
    for link in links:
        sub = by_id[link.subscription_id]
        if link.period_start != sub.current_period_end:
            continue
        if link.price_id != sub.price_id or sub.status not in MRR_STATUSES:
            revalued.append((sub, link, sub.status == Status.TRIALING))
        plan_changed = link.price.plan_id != sub.plan_id
        if link.price_id != sub.price_id or sub.pending_price_id or sub.move_to_current_price:
            fields |= {"price", "plan", "pending_price", "move_to_current_price"}  # written only when they move
        sub.price, sub.plan_id = link.price, link.price.plan_id
        sub.pending_price = None
        if sub.move_to_current_price and link.price.is_current:
            sub.move_to_current_price = False
        sub.current_period_start, sub.current_period_end = link.period_start, link.period_end
        sub.cycles_billed += 1
        sub.status, sub.past_due_since, sub.retries_done = Status.ACTIVE, None, 0
        sub.next_billing_at = link.period_end
        sub.updated_at = clock.now()
        advanced.append(sub)
        payload = {"subscription": subscription_repr(sub)}
        events.append(("subscription.renewed", {**payload, "invoice": link.invoice_id}, sub.customer_id))
        if plan_changed:
            events.append(("subscription.plan_changed", payload, sub.customer_id))
    update_rows(advanced, sorted(fields))
    for sub, link, was_trialing in revalued:
        subscription_mrr_sync(
            subscription=sub,
            at=link.period_start,
            service_period_start=link.period_start,
            from_trial=was_trialing,
            link=link,
        )
    events_emit(events)
    return advanced


_ADVANCED_FIELDS = [
    "current_period_start",
    "current_period_end",
    "cycles_billed",
    "status",
    "past_due_since",
    "retries_done",
    "next_billing_at",
    "updated_at",
]


def subscriptions_settle(*, links: list[SubscriptionInvoice]) -> None:
    """Paid subscription invoices, one or a batch: a first payment activates, renewals advance, an
    upgrade starts its new period; the receipts go out in one task."""
    renewals_advance(links=[link for link in links if link.purpose == Purpose.RENEWAL])
    for link in links:
        if link.purpose == Purpose.FIRST:
            sub = subscription_lock(link.subscription_id)
            if sub.status == Status.INCOMPLETE:
                sub.status, sub.cycles_billed, sub.next_billing_at = Status.ACTIVE, 1, link.period_end
                sub.save()
                subscription_mrr_sync(subscription=sub, at=link.period_start, link=link)
                subscription_emit(sub, "activated")
        elif link.purpose == Purpose.UPGRADE:
            sub = subscription_lock(link.subscription_id)
            sub.price, sub.plan_id = link.price, link.price.plan_id
            sub.pending_price = None
            sub.current_period_start, sub.current_period_end = link.period_start, link.period_end
            sub.next_billing_at = link.period_end
            sub.save()
            subscription_mrr_sync(subscription=sub, at=link.period_start, link=link)
            subscription_emit(sub, "plan_changed", invoice=link.invoice_id)
    notifications.receipts(invoice_ids=[link.invoice_id for link in links])
