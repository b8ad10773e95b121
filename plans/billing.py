"""The billing engine: `run_billing(as_of)` does every piece of due work.

Any number of workers on any number of hosts may run it at once: due subscriptions are claimed in
batches with `SELECT ... FOR UPDATE SKIP LOCKED` and each is billed in its own transaction, whose
invoice is unique per subscription and period. A run that finds a subscription several periods
behind (the scheduler was down) bills each missed period once, not each missed tick.
"""

import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F

from coupons.selectors import discounted
from coupons.services import coupons_expire_due
from integrations.kernel import clock
from integrations.kernel.audit import audit_record, audit_suppressed
from payments.gateways.registry import gateway_class
from payments.models import Invoice, PaymentMethod
from payments.services import (
    InvoiceSpec,
    LineSpec,
    invoices_issue_batch,
    payment_apply_result,
    payments_charge_batch,
    payments_settle_batch,
    payments_start_batch,
)
from plans import notifications
from plans.models import DUE_STATUSES, Plan, Subscription, SubscriptionInvoice
from plans.periods import period_end
from plans.selectors import plan_current_price
from plans.services.renewal import CLAIM_LEASE, renewal_source, still_claimed, subscription_bill, tax_terms
from plans.services.subscriptions import subscription_emit

logger = logging.getLogger("plans.billing")
Status = Subscription.Status


def _claim_batch(as_of: datetime, size: int) -> list[str]:
    """Lease a batch of due subscriptions to this worker, in one short transaction: rows another
    worker holds are skipped, and the lease (their due time moved to as_of + CLAIM_LEASE) keeps
    other workers off them. A worker that dies leaves its rows due again when the lease ends."""
    with transaction.atomic():
        ids = list(
            Subscription.objects.select_for_update(skip_locked=True)
            .filter(next_billing_at__lte=as_of, status__in=DUE_STATUSES)
            .order_by("next_billing_at")
            .values_list("id", flat=True)[:size]
        )
        if ids:
            Subscription.objects.filter(pk__in=ids).update(next_billing_at=as_of + CLAIM_LEASE)
        return ids


def _renew_batch(sub_ids: list[str], as_of: datetime, counts: Counter) -> list[str]:
    """Plain renewals of a claimed batch, set-based: active subscriptions renewing at their own
    price on a default card whose gateway charges in batches (the sandbox). The same rows as one
    by one (invoice unique per period, payments with attempt keys committed before the charge,
    events), in a few statements. Returns the ids left for the one-by-one path."""
    with transaction.atomic():
        subs = list(
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("plan", "price")
            .filter(
                still_claimed(as_of),
                pk__in=sub_ids,
                status=Status.ACTIVE,
                cancel_at_period_end=False,
                pending_price__isnull=True,
                move_to_current_price=False,
            )
        )
        cards = {
            card.customer_id: card
            for card in PaymentMethod.objects.filter(
                customer_id__in=[sub.customer_id for sub in subs], is_default=True, detached_at__isnull=True
            ).select_related("gateway_account")
        }
        # Renewals with a discount are decided one at a time, on the one-by-one path.
        skip = discounted(subscription_ids=[sub.id for sub in subs], customer_ids=[sub.customer_id for sub in subs])
        plain = []
        for sub in subs:
            if sub.id in skip or sub.customer_id in skip:
                continue
            card = cards.get(sub.customer_id)
            cycles_done = sub.plan.billing_cycles and sub.cycles_billed >= sub.plan.billing_cycles
            if card is None or cycles_done or not gateway_class(card.gateway_account).supports_batch:
                continue
            start = sub.current_period_end
            plain.append((sub, card, start, period_end(sub.plan, start, anchor=start)))
        sources = {sub.id: renewal_source(sub.id, start) for sub, _, start, _ in plain}
        taken = set(Invoice.objects.filter(source__in=sources.values()).values_list("source", flat=True))
        plain = [row for row in plain if sources[row[0].id] not in taken]  # a rerun: the one-by-one path finds them
        if not plain:
            return sub_ids
        invoices = invoices_issue_batch(
            specs=[
                InvoiceSpec(
                    customer_id=sub.customer_id,
                    currency=sub.currency,
                    source=sources[sub.id],
                    description=sub.plan.name,
                    terms=tax_terms(sub.plan, card),
                    line=LineSpec(
                        description=f"{sub.plan.name} ({start:%Y-%m-%d} to {end:%Y-%m-%d})",
                        unit_amount=sub.price.amount,
                        reference=f"price:{sub.price_id}",
                        period_start=start,
                        period_end=end,
                    ),
                )
                for sub, card, start, end in plain
            ]
        )
        SubscriptionInvoice.objects.bulk_create(
            [
                SubscriptionInvoice(
                    invoice=invoice,
                    subscription=sub,
                    purpose=SubscriptionInvoice.Purpose.RENEWAL,
                    period_start=start,
                    period_end=end,
                    price_id=sub.price_id,
                )
                for invoice, (sub, _, start, end) in zip(invoices, plain, strict=True)
            ]
        )
        payments = payments_start_batch(invoices=invoices, methods=[card for _, card, _, _ in plain])
    results = payments_charge_batch(payments=payments)  # after commit: the keys exist before the charge

    with transaction.atomic():  # the same step as one payment: invoices paid, subscriptions advanced, receipts
        settled = {p.invoice_id for p in payments_settle_batch(payments=payments, results=results)}
    counts["renewing"] += len(plain)  # as one by one: a renewal charge was made (declines follow dunning)
    for payment, result in zip(payments, results, strict=True):  # declines and the rest: one by one, with dunning
        if payment.invoice_id not in settled:
            payment_apply_result(payment=payment, attempt=1, result=result)
    done = {sub.id for sub, _, _, _ in plain}
    return [sub_id for sub_id in sub_ids if sub_id not in done]


def _bill_due(as_of: datetime, counts: Counter, deadline: float | None, progress=None) -> None:
    size = settings.BILLING_BATCH_SIZE
    while deadline is None or time.monotonic() < deadline:
        batch = _claim_batch(as_of, size)
        if not batch:
            return
        before = Counter(counts)
        claimed = len(batch)
        try:
            batch = _renew_batch(batch, as_of, counts)
        except Exception:  # the one-by-one path below takes the whole batch, and finds what was done
            logger.exception("Batch renewal failed; billing the batch one by one")
        for sub_id in batch:
            try:
                outcome = subscription_bill(subscription_id=sub_id, as_of=as_of, claimed=True)
            except Exception:  # one bad row must not stop the run; its lease ends and it is retried then
                logger.exception("Billing %s failed", sub_id)
                outcome = "error"
            counts[outcome] += 1
        _audit_batch(as_of, claimed, counts - before)
        if progress is not None:
            progress(claimed, counts - before)


def _audit_batch(as_of: datetime, claimed: int, outcomes: Counter) -> None:
    """One audit entry per batch, with its counts (the hook is off inside the run: not one per row)."""
    changes = {"subscriptions": [None, claimed], **{name: [None, n] for name, n in sorted(outcomes.items())}}
    audit_record(
        action="billing.batch_billed", object_type="billing_run", object_id=as_of.isoformat()[:64], changes=changes
    )


def _send_reminders(as_of: datetime, counts: Counter) -> None:
    # Trials ending within 3 days.
    soon = as_of + timedelta(days=3)
    trials = Subscription.objects.filter(
        status=Status.TRIALING, trial_end__lte=soon, trial_end__gt=as_of, trial_reminder_sent_at__isnull=True
    ).select_related("plan", "price", "customer")
    for sub in trials[:1000]:
        with transaction.atomic():
            if Subscription.objects.filter(pk=sub.pk, trial_reminder_sent_at__isnull=True).update(
                trial_reminder_sent_at=as_of
            ):
                subscription_emit(sub, "trial_will_end")
                notifications.trial_will_end(sub)
                counts["trial_will_end"] += 1
    # Annual renewals within 7 days.
    renewals = (
        Subscription.objects.filter(
            status=Status.ACTIVE,
            plan__interval=Plan.Interval.YEAR,
            cancel_at_period_end=False,
            current_period_end__lte=as_of + timedelta(days=7),
            current_period_end__gt=as_of,
        )
        .exclude(renewal_reminder_for=F("current_period_end"))
        .select_related("plan", "price", "customer")
    )
    for sub in renewals[:1000]:
        with transaction.atomic():
            if (
                Subscription.objects.filter(pk=sub.pk)
                .exclude(renewal_reminder_for=sub.current_period_end)
                .update(renewal_reminder_for=sub.current_period_end)
            ):
                notifications.renewal_reminder(sub)
                counts["renewal_reminder"] += 1
    # Price changes chosen by the operator, told N days before the renewal that applies them.
    notice = as_of + timedelta(days=settings.BILLING_PRICE_CHANGE_NOTICE_DAYS)
    moving = Subscription.objects.filter(
        status__in=(Status.ACTIVE, Status.TRIALING),
        move_to_current_price=True,
        price_change_notified_at__isnull=True,
        current_period_end__lte=notice,
    ).select_related("plan", "price", "customer")
    for sub in moving[:1000]:
        new_price = plan_current_price(plan=sub.plan, currency=sub.currency)
        if new_price is None:
            continue
        with transaction.atomic():
            if Subscription.objects.filter(pk=sub.pk, price_change_notified_at__isnull=True).update(
                price_change_notified_at=as_of
            ):
                notifications.price_change_notice(sub, new_price)
                counts["price_change_notice"] += 1


def run_billing(*, as_of: datetime | None = None, max_seconds: float | None = None, progress=None) -> dict:
    """Everything due at `as_of` (default: now): coupon expiry, reminders, trial
    ends, renewals, retries, incomplete expiry, cancellations at period end, fixed-cycle endings.
    `progress(claimed, outcomes)` is called after each batch of subscriptions billed."""
    as_of = as_of or clock.now()
    counts: Counter = Counter()
    deadline = time.monotonic() + max_seconds if max_seconds else None
    # Set-based work: the audit hook stays off (a million renewals are not a million entries); each
    # batch writes one summary entry when an actor runs it (the worker as system, or a command).
    with clock.running_at(as_of), audit_suppressed():
        coupons_expire_due(as_of)
        _send_reminders(as_of, counts)
        _bill_due(as_of, counts, deadline, progress)
    return dict(counts)
