"""Changes to a subscription by its subscriber or an operator: cancel (now or at period end),
resume, change plan (upgrade now, prorated; downgrade at period end), pause, extend, and a move
to the plan's current price."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from moneyed import Money

from integrations.kernel import clock
from integrations.kernel.bounds import date_bounded
from integrations.kernel.errors import CardError, Conflict, InvalidRequest, Unprocessable
from payments.currency import format_amount, quantize
from payments.models import Invoice, Payment
from payments.services import invoice_pay
from plans.locks import subscription_lock
from plans.models import LIVE_STATUSES, Plan, Subscription, SubscriptionInvoice
from plans.periods import daily_rate, period_end
from plans.selectors import plan_current_price, subscription_card
from plans.services.checkout import CheckoutResult, return_url_check
from plans.services.mrr import subscription_mrr_sync
from plans.services.renewal import period_invoice, subscription_bill
from plans.services.subscriptions import subscription_emit, subscription_end, subscription_pause_locked

Status = Subscription.Status


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, at_period_end: bool = True, reason: str = "") -> Subscription:
    sub = subscription_lock(subscription.pk)
    if sub.status not in LIVE_STATUSES:
        raise Unprocessable(f"A {sub.status} subscription cannot be canceled.", code="subscription_not_active")
    reason = reason or Subscription.CancelReason.CUSTOMER
    if at_period_end and sub.status in (Status.ACTIVE, Status.TRIALING):
        if not sub.cancel_at_period_end:
            sub.cancel_at_period_end, sub.cancel_reason = True, reason
            sub.save()
            subscription_emit(sub, "updated", change="cancel_at_period_end")
        return sub
    return subscription_end(sub, reason=reason)


def subscription_resume(*, subscription: Subscription) -> Subscription:
    """Resume: a paused subscription starts a new period now, billed now (`subscription_resume_paused`);
    one set to cancel at period end (before the period ends) goes on renewing. The one rule the API
    and the admin both follow."""
    if Subscription.objects.filter(pk=subscription.pk, status=Status.PAUSED).exists():
        return subscription_resume_paused(subscription=subscription)
    return _cancel_at_period_end_undo(subscription=subscription)


@transaction.atomic
def _cancel_at_period_end_undo(*, subscription: Subscription) -> Subscription:
    sub = subscription_lock(subscription.pk)
    if not sub.cancel_at_period_end or sub.status not in (Status.ACTIVE, Status.TRIALING):
        raise Unprocessable(
            "Only a subscription set to cancel at period end can be resumed.", code="subscription_not_canceling"
        )
    sub.cancel_at_period_end, sub.cancel_reason = False, ""
    sub.save()
    subscription_emit(sub, "resumed")
    return sub


def subscription_resume_paused(*, subscription: Subscription) -> Subscription:
    """An operator resumes a paused subscription: a new period starts now and is billed now."""
    now = clock.now()
    with transaction.atomic():
        sub = subscription_lock(subscription.pk)
        if sub.status != Status.PAUSED:
            raise Unprocessable("Only a paused subscription can be resumed.", code="subscription_not_paused")
        sub.status, sub.paused_at, sub.past_due_since, sub.retries_done = Status.ACTIVE, None, None, 0
        sub.current_period_end = sub.next_billing_at = now
        sub.save()
        subscription_mrr_sync(subscription=sub, at=now)  # paying again (reactivation) until a charge fails for good
        subscription_emit(sub, "resumed")
    subscription_bill(subscription_id=sub.pk, as_of=now)
    return Subscription.objects.get(pk=sub.pk)


def subscription_change_plan(*, subscription: Subscription, plan: Plan, return_url: str = "") -> CheckoutResult:
    """Upgrade now with a prorated invoice (a new period starts today; unused time is credited);
    downgrade at the end of the period. Same currency; the new plan must be recurring and on sale."""
    return_url = return_url_check(return_url)
    sub = Subscription.objects.select_related("plan", "price").get(pk=subscription.pk)
    if sub.status not in (Status.ACTIVE, Status.TRIALING):
        raise Unprocessable(f"A {sub.status} subscription cannot change plan.", code="subscription_not_active")
    if plan.kind != Plan.Kind.RECURRING or plan.status != Plan.Status.ACTIVE:
        raise InvalidRequest("That plan cannot be subscribed to.", code="plan_not_available", param="plan")
    if plan.pk == sub.plan_id:
        raise InvalidRequest("The subscription is already on this plan.", code="plan_unchanged", param="plan")
    price = plan_current_price(plan=plan, currency=sub.currency)
    if price is None:
        raise Unprocessable(
            f"That plan is not sold in {sub.currency}.", code="plan_not_available_in_currency", param="plan"
        )
    now = clock.now()
    if sub.status == Status.TRIALING or daily_rate(price) <= daily_rate(sub.price):
        with transaction.atomic():
            locked = subscription_lock(sub.pk)
            if sub.status == Status.TRIALING:  # during a trial the plan simply changes; billing starts at its end
                locked.plan, locked.price = plan, price
            else:
                locked.pending_price = price
            locked.save()
            subscription_mrr_sync(subscription=locked)  # a trial is worth 0 whatever its plan; a downgrade waits
            effective = "now" if sub.status == Status.TRIALING else "period_end"
            subscription_emit(locked, "plan_changed", effective=effective, plan=plan.id)
        return CheckoutResult(access=None, subscription=locked, invoice=None, payment=None)

    remaining = max(Decimal(0), Decimal((sub.current_period_end - now).total_seconds()))
    length = Decimal((sub.current_period_end - sub.current_period_start).total_seconds()) or Decimal(1)
    credit = quantize(sub.price.amount.amount * remaining / length, sub.currency)
    due = max(Decimal(0), price.amount.amount - credit)
    card = subscription_card(sub)
    if card is None and due > 0:
        raise InvalidRequest("A card is needed to upgrade.", code="parameter_missing", param="payment_method")
    with transaction.atomic():
        _upgrade_lock(subscription=sub, plan=plan)
        invoice = period_invoice(
            sub=sub,
            purpose=SubscriptionInvoice.Purpose.UPGRADE,
            start=now,
            end=period_end(plan, now),
            price=price,
            card=card,
            amount=Money(due, sub.currency),
            description=f"{plan.name} from {now:%Y-%m-%d}, less {format_amount(credit, sub.currency)} {sub.currency} unused on {sub.plan.name}",
        )
    payment = None
    if invoice.status == Invoice.Status.OPEN:
        payment = invoice_pay(invoice=invoice, payment_method=card, off_session=False, return_url=return_url)
        if payment.status == Payment.Status.FAILED:
            raise CardError(
                payment.failure_message or "The card was declined.", code=payment.decline_code or "card_declined"
            )
    sub.refresh_from_db()
    invoice.refresh_from_db()
    return CheckoutResult(access=None, subscription=sub, invoice=invoice, payment=payment)


def _upgrade_lock(*, subscription: Subscription, plan: Plan) -> None:
    """Inside an upgrade's transaction: the subscription's lock serializes its plan changes, so two
    upgrades at once (or one while another waits on 3-D Secure) charge once."""
    locked = subscription_lock(subscription.pk)
    if locked.plan_id == plan.pk:
        raise InvalidRequest("The subscription is already on this plan.", code="plan_unchanged", param="plan")
    if locked.status not in (Status.ACTIVE, Status.TRIALING):
        raise Unprocessable(f"A {locked.status} subscription cannot change plan.", code="subscription_not_active")
    under_way = SubscriptionInvoice.objects.filter(
        subscription=locked, purpose=SubscriptionInvoice.Purpose.UPGRADE, invoice__status=Invoice.Status.OPEN
    )
    if under_way.exists():
        raise Conflict(
            "A plan change of this subscription is waiting for its payment.", code="subscription_change_in_progress"
        )


@transaction.atomic
def subscription_pause(*, subscription: Subscription) -> Subscription:
    sub = subscription_lock(subscription.pk)
    if sub.status not in (Status.ACTIVE, Status.PAST_DUE, Status.TRIALING):
        raise Unprocessable(f"A {sub.status} subscription cannot be paused.", code="subscription_not_active")
    return subscription_pause_locked(sub)


@transaction.atomic
def subscription_extend(*, subscription: Subscription, days: int) -> Subscription:
    """A goodwill extension: the current period (or trial) lasts `days` longer, free."""
    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise InvalidRequest("days is a whole number from 1 to 3650.", code="parameter_invalid", param="days")
    sub = subscription_lock(subscription.pk)
    if sub.status not in (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE):
        raise Unprocessable(f"A {sub.status} subscription cannot be extended.", code="subscription_not_active")
    delta = timedelta(days=days)
    ends = sub.current_period_end
    sub.current_period_end = date_bounded(lambda: ends + delta, param="days")
    if sub.status == Status.TRIALING:
        sub.trial_end += delta
    if sub.status == Status.PAST_DUE:
        sub.past_due_since += delta
    sub.next_billing_at = (sub.next_billing_at or sub.current_period_end - delta) + delta
    sub.save()
    subscription_emit(sub, "extended", days=days)
    return sub


@transaction.atomic
def subscription_move_to_current_price(*, subscription: Subscription) -> Subscription:
    """Operator choice: from the next renewal on, charge the plan's current price (the subscriber
    is told `BILLING_PRICE_CHANGE_NOTICE_DAYS` before)."""
    sub = subscription_lock(subscription.pk)
    current = plan_current_price(plan=sub.plan, currency=sub.currency)
    if current is None or current.pk == sub.price_id:
        raise Unprocessable("The subscription already pays the current price.", code="price_unchanged")
    sub.move_to_current_price, sub.price_change_notified_at = True, None
    sub.save()
    return sub
