"""Subscription services: signup, billing one period, dunning, changes, and the hooks through
which payments tells us an invoice was paid or its payment failed.

All dates come from the billing clock (`integrations.kernel.clock`), which `run_billing(as_of)` moves.
"""

import calendar
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from moneyed import Money

from coupons.services import coupon_check, coupon_find, coupon_redeem, redemptions_release, trial_override_for
from integrations.kernel import clock
from integrations.kernel.errors import CardError, Conflict, InvalidRequest, Unprocessable
from integrations.services import event_emit
from payments.currency import format_amount, quantize
from payments.gateways.base import ChargeStatus
from payments.models import Customer, Invoice, Payment, PaymentMethod
from payments.services import (
    LineSpec,
    invoice_create,
    invoice_finalize,
    invoice_mark_uncollectible,
    invoice_pay,
    invoice_void,
    payment_method_setup,
    payment_retry,
)
from plans import notifications
from plans.models import Plan, PlanPrice, Subscription, SubscriptionInvoice

logger = logging.getLogger("plans.billing")

Status = Subscription.Status
ENTITLED_STATUSES = (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE)
LIVE_STATUSES = (Status.INCOMPLETE, Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.PAUSED)
DUE_STATUSES = (Status.INCOMPLETE, Status.TRIALING, Status.ACTIVE, Status.PAST_DUE)
# While a renewal's charge is under way, other workers leave the subscription alone this long.
CLAIM_LEASE = timedelta(minutes=10)


def still_claimed(as_of: datetime) -> Q:
    """Rows a run at `as_of` may still bill: due, or under the lease this run took. A run that
    outlived its lease finds the rows the next run claimed (or renewed) gone from it."""
    return Q(next_billing_at__lte=as_of) | Q(next_billing_at=as_of + CLAIM_LEASE)


@dataclass(frozen=True)
class SignupResult:
    subscription: Subscription
    invoice: Invoice | None
    payment: Payment | None
    setup_action_url: str = ""  # a trial's card asks for 3-D Secure to be set up for later charges


# --- Periods ------------------------------------------------------------------------------------


def add_interval(start: datetime, *, unit: str, count: int, anchor: datetime | None = None) -> datetime:
    """`start` plus `count` units. Months and years keep the anchor's day, clamped to shorter
    months (Jan 31 -> Feb 28 -> Mar 31), so periods never drift."""
    if unit == "day":
        return start + timedelta(days=count)
    if unit == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if unit == "year" else 1)
    result = start + relativedelta(months=months)
    day = (anchor or start).day
    last = calendar.monthrange(result.year, result.month)[1]
    return result.replace(day=min(day, last))


def period_end(plan: Plan, start: datetime, anchor: datetime | None = None) -> datetime:
    return add_interval(start, unit=plan.interval, count=plan.interval_count, anchor=anchor)


def trial_end(plan: Plan, start: datetime, *, length: int | None = None, unit: str | None = None) -> datetime:
    return add_interval(start, unit=unit or plan.trial_unit, count=length or plan.trial_length)


# --- Reading ------------------------------------------------------------------------------------


def subscription_payload(sub: Subscription) -> dict:
    return {
        "id": sub.id,
        "customer": sub.customer_id,
        "plan": sub.plan_id,
        "status": sub.status,
        "price": {"amount": format_amount(sub.price.amount.amount, sub.currency), "currency": sub.currency},
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "trial_end": sub.trial_end,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "cancel_reason": sub.cancel_reason or None,
    }


def _emit(sub: Subscription, type_: str, **extra) -> None:
    event_emit(
        type=f"subscription.{type_}",
        payload={"subscription": subscription_payload(sub), **extra},
        customer_id=sub.customer_id,
    )


def subscription_card(sub: Subscription) -> PaymentMethod | None:
    """The card a renewal is charged to: the customer's default card (API.md: the default card is
    "the card that the customer's subscriptions are charged to"), else the card used at signup."""
    default = PaymentMethod.objects.filter(
        customer_id=sub.customer_id, is_default=True, detached_at__isnull=True
    ).first()
    if default is not None:
        return default
    if sub.payment_method_id:
        return PaymentMethod.objects.filter(pk=sub.payment_method_id, detached_at__isnull=True).first()
    return None


def grace_ends(sub: Subscription) -> datetime | None:
    return sub.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS) if sub.past_due_since else None


def is_entitled(sub: Subscription, at: datetime | None = None) -> bool:
    at = at or clock.now()
    if sub.status == Status.PAST_DUE:
        return grace_ends(sub) > at
    return sub.status in (Status.TRIALING, Status.ACTIVE)


def _lock(subscription_id: str) -> Subscription:
    return Subscription.objects.select_for_update(of=("self",)).select_related("plan", "price").get(pk=subscription_id)


# --- Signup -------------------------------------------------------------------------------------


# The discounts hook: coupons register callables(*, subscription, purpose, amount: Money) -> Money
# (the discount they give on this invoice, counting down their cycles in the caller's transaction).
discount_hooks: list = []


def period_discount(*, sub: Subscription, purpose: str, amount: Money) -> Money:
    """What the registered discounts take off one invoice of this subscription, never more than it."""
    total = Money(0, amount.currency)
    for hook in discount_hooks:
        total += hook(subscription=sub, purpose=purpose, amount=amount - total)
    return min(total, amount)


def _period_invoice(
    *,
    sub: Subscription,
    purpose: str,
    start: datetime,
    end: datetime,
    price: PlanPrice,
    amount: Money | None = None,
    description: str | None = None,
) -> Invoice:
    """The invoice for one period (or an upgrade), finalized. Unique per subscription, purpose and
    period start, so billing the same period again finds it instead of making another."""
    source = f"{sub.id}:{purpose}:{start.isoformat()}"
    existing = Invoice.objects.filter(source=source).first()
    if existing is not None:
        return existing
    plan = price.plan
    gross = amount if amount is not None else price.amount
    line = LineSpec(
        description=description or f"{plan.name} ({start:%Y-%m-%d} to {end:%Y-%m-%d})",
        unit_amount=gross,
        discount=period_discount(sub=sub, purpose=purpose, amount=gross),
        reference=f"price:{price.pk}",
    )
    invoice = invoice_create(
        customer=sub.customer, currency=sub.currency, lines=[line], source=source, description=plan.name
    )
    SubscriptionInvoice.objects.get_or_create(
        invoice=invoice,
        defaults={"subscription": sub, "purpose": purpose, "period_start": start, "period_end": end, "price": price},
    )
    return invoice_finalize(invoice=invoice)


def subscription_start(
    *,
    customer: Customer,
    plan: Plan,
    price: PlanPrice,
    payment_method: PaymentMethod | None,
    return_url: str = "",
    trial_override: tuple[int, str] | None = None,
    coupon_code: str | None = None,
) -> SignupResult:
    """Checkout of a recurring plan: a trial (with or without a card, per the plan), or the first
    period charged now on-session (3-D Secure leaves it `incomplete` until the customer finishes).
    A coupon is checked first and redeemed with the subscription, in its transaction; a free-trial
    coupon sets the trial's length."""
    now = clock.now()
    if coupon_code:
        found = coupon_find(code=coupon_code)
        coupon_check(found=found, customer=customer, target="subscription", plan=plan, currency=price.currency)
        override = trial_override_for(found.coupon)
        trial_override = override or trial_override

    def redeem(sub: Subscription) -> None:
        if coupon_code:
            coupon_redeem(
                code=coupon_code,
                customer=customer,
                target="subscription",
                plan=plan,
                currency=price.currency,
                subscription_id=sub.id,
            )

    has_trial = plan.has_trial or trial_override is not None
    if has_trial:
        if Subscription.objects.filter(customer=customer, trial_plan=plan).exists():
            raise Unprocessable(
                "This customer has already had this plan's free trial; it is given once.",
                code="trial_already_used",
                param="plan",
            )
        if plan.trial_requires_payment_method and payment_method is None:
            raise InvalidRequest("This plan's trial needs a card.", code="parameter_missing", param="payment_method")
        setup = None
        if payment_method is not None:  # authenticate the card now, so the charge at the trial's end is off-session
            setup = payment_method_setup(
                payment_method=payment_method, purpose=f"trial-{plan.id}", return_url=return_url
            )
            if setup.status == ChargeStatus.FAILED:
                raise CardError(setup.message or "The card was declined.", code=setup.decline_code or "card_declined")
        length, unit = trial_override or (plan.trial_length, plan.trial_unit)
        ends = trial_end(plan, now, length=length, unit=unit)
        try:
            with transaction.atomic():
                sub = Subscription.objects.create(
                    customer=customer,
                    plan=plan,
                    price=price,
                    currency=price.currency,
                    status=Status.TRIALING,
                    payment_method=payment_method,
                    current_period_start=now,
                    current_period_end=ends,
                    trial_start=now,
                    trial_end=ends,
                    trial_plan=plan,
                    next_billing_at=ends,
                )
                _emit(sub, "created")
                redeem(sub)
        except IntegrityError:  # a concurrent signup took the trial first
            raise Unprocessable(
                "This customer has already had this plan's free trial; it is given once.",
                code="trial_already_used",
                param="plan",
            ) from None
        action_url = setup.action_url if setup is not None and setup.status == ChargeStatus.REQUIRES_ACTION else ""
        return SignupResult(subscription=sub, invoice=None, payment=None, setup_action_url=action_url)

    if payment_method is None and price.amount.amount > 0:
        raise InvalidRequest("A card is needed for this plan.", code="parameter_missing", param="payment_method")
    ends = period_end(plan, now)
    with transaction.atomic():
        sub = Subscription.objects.create(
            customer=customer,
            plan=plan,
            price=price,
            currency=price.currency,
            status=Status.INCOMPLETE,
            payment_method=payment_method,
            current_period_start=now,
            current_period_end=ends,
            next_billing_at=now + timedelta(hours=settings.BILLING_INCOMPLETE_EXPIRY_HOURS),
        )
        _emit(sub, "created")
        redeem(sub)
        invoice = _period_invoice(sub=sub, purpose=SubscriptionInvoice.Purpose.FIRST, start=now, end=ends, price=price)
    payment = None
    if invoice.status == Invoice.Status.OPEN:
        payment = invoice_pay(invoice=invoice, payment_method=payment_method, off_session=False, return_url=return_url)
    sub.refresh_from_db()
    invoice.refresh_from_db()
    if payment is not None and payment.status == Payment.Status.FAILED:
        raise CardError(
            payment.failure_message or "The card was declined.", code=payment.decline_code or "card_declined"
        )
    return SignupResult(subscription=sub, invoice=invoice, payment=payment)


# --- Billing one subscription (called by the engine for each claimed row) ------------------------


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
            _renewal_without_card(subscription_id=subscription_id, invoice=invoice)
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
        return _retry_due(sub, as_of)
    if sub.status not in (Status.TRIALING, Status.ACTIVE):
        sub.next_billing_at = None
        sub.save(update_fields=["next_billing_at", "updated_at"])
        return "idle", None, None

    end = sub.current_period_end
    if sub.cancel_at_period_end:
        sub.status, sub.canceled_at, sub.ended_at, sub.next_billing_at = Status.CANCELED, end, end, None
        sub.cancel_reason = sub.cancel_reason or Subscription.CancelReason.CUSTOMER
        sub.save()
        _emit(sub, "canceled")
        notifications.subscription_canceled(sub)
        return "canceled", None, None
    if sub.plan.billing_cycles and sub.cycles_billed >= sub.plan.billing_cycles:
        sub.status, sub.ended_at, sub.next_billing_at = Status.ENDED, end, None
        sub.save()
        _emit(sub, "ended")
        return "ended", None, None

    card = subscription_card(sub)
    if sub.status == Status.TRIALING and card is None:
        return _trial_ends_without_card(sub), None, None

    price = sub.price
    if sub.pending_price_id:
        price = sub.pending_price
    elif sub.move_to_current_price:
        price = PlanPrice.objects.filter(plan=sub.plan, is_current=True, amount_currency=sub.currency).first() or price
    start = end
    invoice = _period_invoice(
        sub=sub,
        purpose=SubscriptionInvoice.Purpose.RENEWAL,
        start=start,
        end=period_end(price.plan, start, anchor=start),
        price=price,
    )
    sub.refresh_from_db()
    if invoice.status != Invoice.Status.OPEN:  # a zero invoice, paid at once: the hook advanced the period
        return "renewed", None, None
    sub.next_billing_at = as_of + CLAIM_LEASE  # other workers leave it while the charge is under way
    sub.save(update_fields=["next_billing_at", "updated_at"])
    return "renewing", invoice, card


def _expire_incomplete(sub: Subscription) -> str:
    """The first payment waited 23 hours for 3-D Secure: give up on it."""
    from payments.services import payment_cancel

    link = sub.invoice_links.filter(purpose=SubscriptionInvoice.Purpose.FIRST).select_related("invoice").first()
    payment = link.invoice.payments.filter(status=Payment.Status.REQUIRES_ACTION).first() if link else None
    sub.next_billing_at = None
    sub.save(update_fields=["next_billing_at", "updated_at"])
    if payment is not None:
        transaction.on_commit(lambda: payment_cancel(payment=payment, reason="3-D Secure not completed in time"))
    else:
        _incomplete_expired(sub)
    return "incomplete_expired"


def _incomplete_expired(sub: Subscription) -> None:
    sub.status, sub.ended_at, sub.next_billing_at = Status.INCOMPLETE_EXPIRED, clock.now(), None
    sub.cancel_reason = Subscription.CancelReason.INCOMPLETE
    sub.save()
    _emit(sub, "incomplete_expired")


def _trial_ends_without_card(sub: Subscription) -> str:
    now = clock.now()
    if sub.plan.trial_end_without_card == "pause":
        sub.status, sub.paused_at, sub.next_billing_at = Status.PAUSED, now, None
        sub.save()
        _emit(sub, "paused", reason="trial_ended_without_payment_method")
        return "paused"
    sub.status, sub.canceled_at, sub.ended_at, sub.next_billing_at = Status.CANCELED, now, sub.trial_end, None
    sub.cancel_reason = Subscription.CancelReason.TRIAL_ENDED
    sub.save()
    _emit(sub, "canceled")
    notifications.subscription_canceled(sub)
    return "canceled"


def subscription_open_invoice(sub: Subscription) -> Invoice | None:
    link = (
        sub.invoice_links.filter(purpose=SubscriptionInvoice.Purpose.RENEWAL, invoice__status=Invoice.Status.OPEN)
        .select_related("invoice")
        .order_by("-period_start")
        .first()
    )
    return link.invoice if link else None


def _retry_due(sub: Subscription, as_of: datetime):
    invoice = subscription_open_invoice(sub)
    if invoice is None:  # paid meanwhile (a new card, the pay-now page): nothing to retry
        sub.next_billing_at = sub.current_period_end
        sub.save(update_fields=["next_billing_at", "updated_at"])
        return "idle", None, None
    sub.next_billing_at = as_of + CLAIM_LEASE
    sub.save(update_fields=["next_billing_at", "updated_at"])
    return "retrying", invoice, subscription_card(sub)


def _renewal_without_card(*, subscription_id: str, invoice: Invoice) -> None:
    with transaction.atomic():
        sub = _lock(subscription_id)
        _record_failure(sub, invoice=invoice, decline_code="no_payment_method")


# --- Hooks from payments ------------------------------------------------------------------------


def subscription_on_invoice_paid(*, invoice: Invoice, payment: Payment | None) -> None:
    link = SubscriptionInvoice.objects.filter(invoice=invoice).select_related("price").first()
    if link is None:
        return
    sub = _lock(link.subscription_id)
    Purpose = SubscriptionInvoice.Purpose
    if link.purpose == Purpose.FIRST:
        if sub.status != Status.INCOMPLETE:
            return
        sub.status, sub.cycles_billed, sub.next_billing_at = Status.ACTIVE, 1, link.period_end
        sub.save()
        _emit(sub, "activated")
    elif link.purpose == Purpose.RENEWAL:
        if link.period_start != sub.current_period_end:
            return  # this period was already taken into account
        plan_changed = link.price_id != sub.price_id and link.price.plan_id != sub.plan_id
        sub.price, sub.plan_id = link.price, link.price.plan_id
        sub.pending_price = None
        if sub.move_to_current_price and link.price.is_current:
            sub.move_to_current_price = False
        sub.current_period_start, sub.current_period_end = link.period_start, link.period_end
        sub.cycles_billed += 1
        sub.status, sub.past_due_since, sub.retries_done = Status.ACTIVE, None, 0
        sub.next_billing_at = link.period_end
        sub.save()
        _emit(sub, "renewed", invoice=invoice.id)
        if plan_changed:
            _emit(sub, "plan_changed")
    elif link.purpose == Purpose.UPGRADE:
        sub.price, sub.plan_id = link.price, link.price.plan_id
        sub.pending_price = None
        sub.current_period_start, sub.current_period_end = link.period_start, link.period_end
        sub.next_billing_at = link.period_end
        sub.save()
        _emit(sub, "plan_changed", invoice=invoice.id)
    notifications.receipt(invoice=invoice, subscription=sub)


def subscription_on_payment_failed(*, invoice: Invoice, payment: Payment) -> None:
    link = SubscriptionInvoice.objects.filter(invoice=invoice).first()
    if link is None:
        return
    sub = _lock(link.subscription_id)
    if link.purpose == SubscriptionInvoice.Purpose.FIRST:
        if sub.status == Status.INCOMPLETE:
            _incomplete_expired(sub)
            invoice_void(invoice=invoice)
            redemptions_release(subscription_id=sub.id)  # a coupon is not used up by a signup that failed
        return
    if link.purpose == SubscriptionInvoice.Purpose.UPGRADE:
        invoice_void(invoice=invoice)
        return
    if not payment.off_session:
        return  # the customer's own try on the pay-now page: they see the error there; dunning goes on
    if link.period_start != sub.current_period_end or sub.status not in (
        Status.ACTIVE,
        Status.TRIALING,
        Status.PAST_DUE,
    ):
        return
    _record_failure(sub, invoice=invoice, decline_code=payment.decline_code)


def _record_failure(sub: Subscription, *, invoice: Invoice, decline_code: str) -> None:
    """Dunning: past due with access for the grace period, retries on the schedule, then canceled."""
    now = clock.now()
    schedule = settings.BILLING_RETRY_DAYS
    if sub.status != Status.PAST_DUE:
        sub.status, sub.past_due_since, sub.retries_done = Status.PAST_DUE, now, 0
        first_failure = True
    else:
        sub.retries_done += 1
        first_failure = False
    if sub.retries_done < len(schedule):
        sub.next_billing_at = sub.past_due_since + timedelta(days=schedule[sub.retries_done])
        sub.save()
        if first_failure:
            _emit(sub, "past_due", invoice=invoice.id, decline_code=decline_code)
        if decline_code == "authentication_required":
            notifications.action_required(subscription=sub, invoice=invoice)
        else:
            notifications.payment_failed(subscription=sub, invoice=invoice)
        return
    sub.status, sub.canceled_at, sub.ended_at, sub.next_billing_at = Status.CANCELED, now, now, None
    sub.cancel_reason = Subscription.CancelReason.PAYMENT_FAILED
    sub.save()
    invoice_mark_uncollectible(invoice=invoice)
    _emit(sub, "canceled")
    notifications.subscription_canceled(sub)


def subscriptions_on_new_default_card(*, payment_method: PaymentMethod) -> None:
    """A new default card settles past-due renewals at once."""
    for sub in Subscription.objects.filter(customer_id=payment_method.customer_id, status=Status.PAST_DUE):
        invoice = subscription_open_invoice(sub)
        payment = invoice.payments.order_by("-created_at").first() if invoice else None
        if payment is not None and payment.status in (Payment.Status.FAILED, Payment.Status.CANCELED):
            transaction.on_commit(
                lambda p=payment: payment_retry(payment=p, payment_method=payment_method, off_session=True)
            )


def subscription_detach_check(*, payment_method: PaymentMethod) -> None:
    """A card may not be removed while it is the only one behind a live subscription."""
    others = PaymentMethod.objects.filter(customer_id=payment_method.customer_id, detached_at__isnull=True).exclude(
        pk=payment_method.pk
    )
    if others.exists():
        return
    live = Subscription.objects.filter(
        customer_id=payment_method.customer_id, status__in=(Status.ACTIVE, Status.PAST_DUE, Status.INCOMPLETE)
    )
    if (
        live.exists()
        or Subscription.objects.filter(
            customer_id=payment_method.customer_id, status=Status.TRIALING, plan__trial_requires_payment_method=True
        ).exists()
    ):
        raise Unprocessable(
            "This is the only card behind an active subscription: add another card first, or cancel the subscription.",
            code="payment_method_in_use",
        )


# --- Changes ------------------------------------------------------------------------------------


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, at_period_end: bool = True, reason: str = "") -> Subscription:
    sub = _lock(subscription.pk)
    if sub.status not in LIVE_STATUSES:
        raise Unprocessable(f"A {sub.status} subscription cannot be canceled.", code="subscription_not_active")
    reason = reason or Subscription.CancelReason.CUSTOMER
    if at_period_end and sub.status in (Status.ACTIVE, Status.TRIALING):
        if not sub.cancel_at_period_end:
            sub.cancel_at_period_end, sub.cancel_reason = True, reason
            sub.save()
            _emit(sub, "updated", change="cancel_at_period_end")
        return sub
    now = clock.now()
    sub.status, sub.canceled_at, sub.ended_at, sub.next_billing_at = Status.CANCELED, now, now, None
    sub.cancel_reason = reason
    sub.save()
    open_invoice = subscription_open_invoice(sub)
    if open_invoice is not None:
        invoice_void(invoice=open_invoice)
    _emit(sub, "canceled")
    notifications.subscription_canceled(sub)
    return sub


@transaction.atomic
def subscription_resume(*, subscription: Subscription) -> Subscription:
    """Undo a cancellation at period end (before the period ends)."""
    sub = _lock(subscription.pk)
    if not sub.cancel_at_period_end or sub.status not in (Status.ACTIVE, Status.TRIALING):
        raise Unprocessable(
            "Only a subscription set to cancel at period end can be resumed.", code="subscription_not_canceling"
        )
    sub.cancel_at_period_end, sub.cancel_reason = False, ""
    sub.save()
    _emit(sub, "resumed")
    return sub


def _daily(price: PlanPrice) -> Decimal:
    plan = price.plan
    days = {"day": 1, "week": 7, "month": Decimal("30.436875"), "year": Decimal("365.2425")}[plan.interval]
    return price.amount.amount / (days * plan.interval_count)


def subscription_change_plan(*, subscription: Subscription, plan: Plan, return_url: str = "") -> SignupResult:
    """Upgrade now with a prorated invoice (a new period starts today; unused time is credited);
    downgrade at the end of the period. Same currency; the new plan must be recurring and on sale."""
    sub = Subscription.objects.select_related("plan", "price").get(pk=subscription.pk)
    if sub.status not in (Status.ACTIVE, Status.TRIALING):
        raise Unprocessable(f"A {sub.status} subscription cannot change plan.", code="subscription_not_active")
    if plan.kind != Plan.Kind.RECURRING or plan.status != Plan.Status.ACTIVE:
        raise InvalidRequest("That plan cannot be subscribed to.", code="plan_not_available", param="plan")
    if plan.pk == sub.plan_id:
        raise InvalidRequest("The subscription is already on this plan.", code="plan_unchanged", param="plan")
    price = PlanPrice.objects.filter(plan=plan, is_current=True, amount_currency=sub.currency).first()
    if price is None:
        raise Unprocessable(
            f"That plan is not sold in {sub.currency}.", code="plan_not_available_in_currency", param="plan"
        )
    now = clock.now()
    if sub.status == Status.TRIALING or _daily(price) <= _daily(sub.price):
        with transaction.atomic():
            locked = _lock(sub.pk)
            if sub.status == Status.TRIALING:  # during a trial the plan simply changes; billing starts at its end
                locked.plan, locked.price = plan, price
            else:
                locked.pending_price = price
            locked.save()
            _emit(
                locked, "plan_changed", effective="now" if sub.status == Status.TRIALING else "period_end", plan=plan.id
            )
        return SignupResult(subscription=locked, invoice=None, payment=None)

    remaining = max(Decimal(0), Decimal((sub.current_period_end - now).total_seconds()))
    length = Decimal((sub.current_period_end - sub.current_period_start).total_seconds()) or Decimal(1)
    credit = quantize(sub.price.amount.amount * remaining / length, sub.currency)
    due = max(Decimal(0), price.amount.amount - credit)
    card = subscription_card(sub)
    if card is None and due > 0:
        raise InvalidRequest("A card is needed to upgrade.", code="parameter_missing", param="payment_method")
    with transaction.atomic():
        invoice = _period_invoice(
            sub=sub,
            purpose=SubscriptionInvoice.Purpose.UPGRADE,
            start=now,
            end=period_end(plan, now),
            price=price,
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
    return SignupResult(subscription=sub, invoice=invoice, payment=payment)


@transaction.atomic
def subscription_pause(*, subscription: Subscription) -> Subscription:
    sub = _lock(subscription.pk)
    if sub.status not in (Status.ACTIVE, Status.PAST_DUE, Status.TRIALING):
        raise Unprocessable(f"A {sub.status} subscription cannot be paused.", code="subscription_not_active")
    sub.status, sub.paused_at, sub.next_billing_at = Status.PAUSED, clock.now(), None
    sub.save()
    open_invoice = subscription_open_invoice(sub)
    if open_invoice is not None:  # a past-due period is no longer collected; a resume bills a new one
        invoice_void(invoice=open_invoice)
    _emit(sub, "paused")
    return sub


def subscription_resume_paused(*, subscription: Subscription) -> Subscription:
    """An operator resumes a paused subscription: a new period starts now and is billed now."""
    now = clock.now()
    with transaction.atomic():
        sub = _lock(subscription.pk)
        if sub.status != Status.PAUSED:
            raise Unprocessable("Only a paused subscription can be resumed.", code="subscription_not_paused")
        sub.status, sub.paused_at, sub.past_due_since, sub.retries_done = Status.ACTIVE, None, None, 0
        sub.current_period_end = sub.next_billing_at = now
        sub.save()
        _emit(sub, "resumed")
    subscription_bill(subscription_id=sub.pk, as_of=now)
    return Subscription.objects.get(pk=sub.pk)


@transaction.atomic
def subscription_extend(*, subscription: Subscription, days: int) -> Subscription:
    """A goodwill extension: the current period (or trial) lasts `days` longer, free."""
    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise InvalidRequest("days is a whole number from 1 to 3650.", code="parameter_invalid", param="days")
    sub = _lock(subscription.pk)
    if sub.status not in (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE):
        raise Unprocessable(f"A {sub.status} subscription cannot be extended.", code="subscription_not_active")
    delta = timedelta(days=days)
    sub.current_period_end += delta
    if sub.status == Status.TRIALING:
        sub.trial_end += delta
    if sub.status == Status.PAST_DUE:
        sub.past_due_since += delta
    sub.next_billing_at = (sub.next_billing_at or sub.current_period_end - delta) + delta
    sub.save()
    _emit(sub, "extended", days=days)
    return sub


@transaction.atomic
def subscription_move_to_current_price(*, subscription: Subscription) -> Subscription:
    """Operator choice: from the next renewal on, charge the plan's current price (the subscriber
    is told `BILLING_PRICE_CHANGE_NOTICE_DAYS` before)."""
    sub = _lock(subscription.pk)
    current = PlanPrice.objects.filter(plan=sub.plan, is_current=True, amount_currency=sub.currency).first()
    if current is None or current.pk == sub.price_id:
        raise Unprocessable("The subscription already pays the current price.", code="price_unchanged")
    sub.move_to_current_price, sub.price_change_notified_at = True, None
    sub.save()
    return sub


def subscription_pay_now(*, subscription: Subscription, return_url: str) -> Payment:
    """The customer pays a past-due renewal on-session (the hosted page after a renewal asked for
    authentication): may answer requires_action with the bank's page."""
    sub = Subscription.objects.get(pk=subscription.pk)
    invoice = subscription_open_invoice(sub)
    if sub.status != Status.PAST_DUE or invoice is None:
        raise Unprocessable("Nothing is due on this subscription.", code="nothing_due")
    card = subscription_card(sub)
    if card is None:
        raise InvalidRequest("Add a card first.", code="parameter_missing", param="payment_method")
    payment = invoice.payments.order_by("-created_at").first()
    if payment is None:
        return invoice_pay(invoice=invoice, payment_method=card, off_session=False, return_url=return_url)
    if payment.status == Payment.Status.REQUIRES_ACTION:
        return payment
    return payment_retry(payment=payment, payment_method=card, off_session=False, return_url=return_url)


def subscription_check_conflict(*, customer: Customer, plan: Plan) -> None:
    if Subscription.objects.filter(customer=customer, plan=plan, status__in=LIVE_STATUSES).exists():
        raise Conflict(
            "The customer already has a live subscription to this plan.", code="subscription_exists", param="plan"
        )


def subscription_retry_now(*, subscription: Subscription) -> Payment | None:
    """An operator retries a past-due renewal off-session now, on the card renewals are charged to.
    None when there is no failed payment to retry (one is under way or waits for the customer)."""
    sub = Subscription.objects.get(pk=subscription.pk)
    invoice = subscription_open_invoice(sub)
    if sub.status != Status.PAST_DUE or invoice is None:
        raise Unprocessable("Only a past-due renewal can be retried.", code="nothing_due")
    card = subscription_card(sub)
    if card is None:
        raise InvalidRequest("The customer has no card to charge.", code="parameter_missing", param="payment_method")
    payment = invoice.payments.order_by("-created_at").first()
    if payment is None or payment.status not in (Payment.Status.FAILED, Payment.Status.CANCELED):
        return None
    return payment_retry(payment=payment, payment_method=card, off_session=True)
