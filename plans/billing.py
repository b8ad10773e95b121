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

from integrations import clock
from plans import notifications
from plans.models import Plan, PlanPrice, Subscription
from plans.subscriptions import CLAIM_LEASE, DUE_STATUSES, _emit, subscription_bill

logger = logging.getLogger("plans.billing")
Status = Subscription.Status
billing_hooks: list = []  # callables(as_of) run first, e.g. coupon expiry


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


def _bill_due(as_of: datetime, counts: Counter, deadline: float | None) -> None:
    size = settings.BILLING_BATCH_SIZE
    while deadline is None or time.monotonic() < deadline:
        batch = _claim_batch(as_of, size)
        if not batch:
            return
        for sub_id in batch:
            try:
                outcome = subscription_bill(subscription_id=sub_id, as_of=as_of, claimed=True)
            except Exception:  # one bad row must not stop the run; its lease ends and it is retried then
                logger.exception("Billing %s failed", sub_id)
                outcome = "error"
            counts[outcome] += 1


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
                _emit(sub, "trial_will_end")
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
        new_price = PlanPrice.objects.filter(plan=sub.plan, is_current=True, amount_currency=sub.currency).first()
        if new_price is None:
            continue
        with transaction.atomic():
            if Subscription.objects.filter(pk=sub.pk, price_change_notified_at__isnull=True).update(
                price_change_notified_at=as_of
            ):
                notifications.price_change_notice(sub, new_price)
                counts["price_change_notice"] += 1


def run_billing(*, as_of: datetime | None = None, max_seconds: float | None = None) -> dict:
    """Everything due at `as_of` (default: now): coupon expiry and other hooks, reminders, trial
    ends, renewals, retries, incomplete expiry, cancellations at period end, fixed-cycle endings."""
    as_of = as_of or clock.now()
    counts: Counter = Counter()
    deadline = time.monotonic() + max_seconds if max_seconds else None
    with clock.running_at(as_of):
        for hook in billing_hooks:
            hook(as_of)
        _send_reminders(as_of, counts)
        _bill_due(as_of, counts, deadline)
    return dict(counts)
