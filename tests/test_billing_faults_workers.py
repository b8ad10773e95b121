"""The billing engine's faults (issue 4) with real `manage.py run_billing` processes on PostgreSQL:
four workers racing over the same due rows, a worker killed mid-batch then a rerun, and the
scheduler down for three days. Each must end with every subscription billed once per period and
no card charged twice."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from payments.gateways.sandbox.models import SandboxCharge
from payments.models import Invoice, Payment
from payments.services import payments_reconcile
from plans.models import Subscription, SubscriptionInvoice
from plans.services import CLAIM_LEASE
from tests.billing_fault_helpers import (
    RENEWAL,
    Status,
    Worker,
    _plan,
    assert_nobody_charged_twice,
    assert_renewed_once,
    billed,
    charges_per_card,
    due_subscriptions,
    renewal_counts,
    run_billing_process,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- 1. Four workers at once --------------------------------------------------------------------


@pytest.mark.slow
def test_four_run_billing_processes_at_once_renew_each_of_2000_subscriptions_exactly_once(tmp_path):
    plan, price = _plan("monthly-race", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    subs = due_subscriptions(2000, plan=plan, price=price, period_ends_at=old_end, prefix="race")

    started = time.monotonic()
    workers = [Worker(as_of, tmp_path, f"worker-{n}") for n in range(4)]
    outcomes = [worker.finish() for worker in workers]
    elapsed = time.monotonic() - started

    assert sum(billed(outcome) for outcome in outcomes) == 2000, outcomes
    assert sum(1 for outcome in outcomes if billed(outcome)) >= 2, outcomes  # they really overlapped
    assert Invoice.objects.count() == 2000
    assert Invoice.objects.filter(status=Invoice.Status.PAID).count() == 2000
    assert Payment.objects.count() == 2000
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED, attempts=1).count() == 2000
    assert SandboxCharge.objects.count() == 2000
    assert SandboxCharge.objects.filter(status=SandboxCharge.Status.SUCCEEDED).count() == 2000
    assert Invoice.objects.values("source").distinct().count() == 2000
    assert_nobody_charged_twice()
    assert_renewed_once(subs, old_end=old_end, plan=plan)
    print(f"\n4 workers renewed 2000 subscriptions in {elapsed:.1f} s: {outcomes}")


# --- 2. A worker killed in the middle of a batch ------------------------------------------------


def _wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_batch_then_a_rerun_renews_every_subscription_and_charges_none_twice(tmp_path):
    plan, price = _plan("monthly-kill", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    subs = due_subscriptions(1000, plan=plan, price=price, period_ends_at=old_end, prefix="kill")

    victim = Worker(as_of, tmp_path, "victim")
    try:
        _wait_for(lambda: Invoice.objects.count() >= 150, timeout=120, what="the victim to bill some")
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait(timeout=30)
    finally:
        if victim.process.poll() is None:
            victim.process.kill()
            victim.process.wait()
    assert victim.process.returncode == -signal.SIGKILL
    billed_before_the_rerun = Invoice.objects.count()
    assert billed_before_the_rerun < 1000, "killed too late to prove anything"
    in_flight = {
        "invoices": billed_before_the_rerun,
        "unpaid": Invoice.objects.exclude(status=Invoice.Status.PAID).count(),
        "processing": Payment.objects.filter(status=Payment.Status.PROCESSING).count(),
        "charges": SandboxCharge.objects.count(),
    }
    print(f"\nkilled with {in_flight}")
    # One worker has at most one claimed batch in flight when it dies.
    assert Invoice.objects.exclude(status=Invoice.Status.PAID).count() <= settings.BILLING_BATCH_SIZE
    assert Payment.objects.exclude(status=Payment.Status.SUCCEEDED).count() <= settings.BILLING_BATCH_SIZE
    assert_nobody_charged_twice()

    # The rerun, once the lease the killed worker held on its claimed rows has run out.
    rerun = run_billing_process(as_of + CLAIM_LEASE + timedelta(minutes=5), tmp_path, "rerun")
    assert billed(rerun) >= 1000 - billed_before_the_rerun, rerun
    # The scheduled sweep settles payments the kill left `processing`: it asks the gateway about a
    # charge whose answer was lost, and sends one that never left under its own idempotency key. Our
    # crash must not put a customer into dunning.
    payments_reconcile(as_of=timezone.now() + timedelta(minutes=30))

    assert Subscription.objects.filter(status=Status.PAST_DUE).count() == 0
    assert Invoice.objects.count() == 1000
    assert Invoice.objects.filter(status=Invoice.Status.PAID).count() == 1000
    assert SandboxCharge.objects.filter(status=SandboxCharge.Status.SUCCEEDED).count() == 1000
    assert SandboxCharge.objects.count() == 1000
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 1000
    assert_nobody_charged_twice()
    assert_renewed_once(subs, old_end=old_end, plan=plan)


# --- 3. The scheduler down for three days -------------------------------------------------------


@pytest.mark.slow
def test_after_three_days_without_the_scheduler_each_missed_period_is_billed_once_not_each_tick(tmp_path):
    daily, daily_price = _plan("daily-outage", "day")
    monthly, monthly_price = _plan("monthly-outage", "month")
    now = timezone.now()
    # Due just after the scheduler stopped, three days ago: three daily periods were missed.
    daily_end = now - timedelta(days=3) + timedelta(minutes=30)
    monthly_end = now - timedelta(days=3)
    daily_subs = due_subscriptions(100, plan=daily, price=daily_price, period_ends_at=daily_end, prefix="daily")
    monthly_subs = due_subscriptions(
        100, plan=monthly, price=monthly_price, period_ends_at=monthly_end, prefix="monthly"
    )

    first = run_billing_process(now, tmp_path, "back")
    for minutes in (0, 5, 10):  # the next ticks, one of them at the same instant as the first run
        again = run_billing_process(now + timedelta(minutes=minutes), tmp_path, f"tick-{minutes}")
        assert billed(again) == 0, again

    assert billed(first) == 100 * 3 + 100, first
    counts = renewal_counts()
    assert {sub.id: counts[sub.id] for sub in daily_subs} == {sub.id: 3 for sub in daily_subs}
    assert {sub.id: counts[sub.id] for sub in monthly_subs} == {sub.id: 1 for sub in monthly_subs}
    for sub in daily_subs:
        periods = list(
            SubscriptionInvoice.objects.filter(subscription=sub, purpose=RENEWAL)
            .order_by("period_start")
            .values_list("period_start", "period_end")
        )
        assert periods == [(daily_end + timedelta(days=n), daily_end + timedelta(days=n + 1)) for n in range(3)]
    expected_end = daily_end + timedelta(days=3)
    assert (
        Subscription.objects.filter(
            pk__in=[s.id for s in daily_subs],
            status=Status.ACTIVE,
            cycles_billed=4,
            current_period_start=daily_end + timedelta(days=2),
            current_period_end=expected_end,
            next_billing_at=expected_end,
        ).count()
        == 100
    )
    assert_renewed_once(monthly_subs, old_end=monthly_end, plan=monthly)
    assert Invoice.objects.count() == Payment.objects.count() == SandboxCharge.objects.count() == 400
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 400
    expected = {sub.payment_method.gateway_reference: 3 for sub in daily_subs}
    expected |= {sub.payment_method.gateway_reference: 1 for sub in monthly_subs}
    assert charges_per_card() == expected
    assert_nobody_charged_twice(renewals_per_card=None)
