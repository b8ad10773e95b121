"""The transitions every path of a subscription shares: it is created in one place, it stops
(canceled, ended, incomplete_expired) in one place, and it pauses in one place.

All dates come from the billing clock (`integrations.kernel.clock`), which `run_billing(as_of)` moves.
"""

from datetime import datetime

from integrations.kernel import clock
from integrations.services import event_emit
from payments.models import Customer, PaymentMethod
from payments.services import invoice_void
from plans import notifications
from plans.models import Plan, PlanPrice, Subscription
from plans.representations import subscription_repr
from plans.selectors import subscription_open_invoice
from plans.services.mrr import subscription_mrr_sync

Status = Subscription.Status


def subscription_emit(sub: Subscription, type_: str, **extra) -> None:
    event_emit(
        type=f"subscription.{type_}",
        payload={"subscription": subscription_repr(sub), **extra},
        customer_id=sub.customer_id,
    )


def subscription_create(
    *,
    customer: Customer,
    plan: Plan,
    price: PlanPrice,
    status: str,
    payment_method: PaymentMethod | None,
    period_start: datetime,
    period_end: datetime,
    next_billing_at: datetime,
    trial: bool = False,
    source: str = "checkout",
    mrr_sync: bool = True,
) -> Subscription:
    """The one place a subscription comes to be (checkout, a trial, an import), with its
    `subscription.created` event. A trial records the plan it was given for: once per plan, ever
    (a unique constraint has the last word when two signups race). One created active (an import)
    has MRR at once, unless `mrr_sync` is off for a caller that syncs it after more changes."""
    sub = Subscription.objects.create(
        customer=customer,
        plan=plan,
        price=price,
        currency=price.currency,
        status=status,
        payment_method=payment_method,
        current_period_start=period_start,
        current_period_end=period_end,
        trial_start=period_start if trial else None,
        trial_end=period_end if trial else None,
        trial_plan=plan if trial else None,
        next_billing_at=next_billing_at,
        source=source,
    )
    if mrr_sync:
        subscription_mrr_sync(subscription=sub, at=period_start)
    extra = {"source": source} if source != "checkout" else {}
    subscription_emit(sub, "created", **extra)
    return sub


def subscription_end(
    sub: Subscription,
    *,
    status: str = Status.CANCELED,
    reason: str = "",
    ended_at: datetime | None = None,
    canceled_at: datetime | None = None,
) -> Subscription:
    """The one way a locked subscription stops: canceled (by the customer or an operator, at
    period end, after dunning, a trial with no card), ended (its fixed cycles done) or
    incomplete_expired (the first payment never completed). An open renewal invoice is voided (a
    charge still under way on it is then refunded by payments); a cancellation is mailed."""
    now = clock.now()
    sub.status, sub.next_billing_at = status, None
    sub.ended_at = ended_at or now
    if status == Status.CANCELED:
        sub.canceled_at = canceled_at or now
    if reason or status != Status.ENDED:
        sub.cancel_reason = reason or sub.cancel_reason or Subscription.CancelReason.CUSTOMER
    sub.save()
    subscription_mrr_sync(subscription=sub, at=sub.ended_at)  # churn at the end of the paid period, or now
    open_invoice = subscription_open_invoice(sub)
    if open_invoice is not None:
        invoice_void(invoice=open_invoice)
    subscription_emit(sub, status)
    if status == Status.CANCELED:
        notifications.subscription_canceled(sub)
    return sub


def subscription_pause_locked(sub: Subscription, **extra) -> Subscription:
    """The one way a locked subscription pauses (an operator, a cardless trial that ended): no
    access, no billing; a past-due period is no longer collected (a resume bills a new one)."""
    sub.status, sub.paused_at, sub.next_billing_at = Status.PAUSED, clock.now(), None
    sub.save()
    subscription_mrr_sync(subscription=sub, at=sub.paused_at)
    open_invoice = subscription_open_invoice(sub)
    if open_invoice is not None:
        invoice_void(invoice=open_invoice)
    subscription_emit(sub, "paused", **extra)
    return sub
