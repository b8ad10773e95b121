"""The billing engine's faults (issue 4), on PostgreSQL with real `manage.py run_billing` processes:
workers racing over the same due rows, a worker killed mid-batch, the scheduler down for days, and
a charge whose answer was lost. Each must end with every subscription billed once per period and
no card charged twice."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from integrations.models import Event
from payments.gateways.sandbox import SandboxGateway
from payments.gateways.sandbox_models import SandboxCard, SandboxCharge, SandboxRefund
from payments.models import Customer, GatewayAccount, Invoice, Payment, PaymentMethod
from payments.services import gateway_account_create, payments_reconcile
from plans.billing import run_billing
from plans.models import Plan, PlanPrice, Subscription, SubscriptionInvoice
from plans.periods import period_end
from plans.services import CLAIM_LEASE, subscription_cancel
from plans.tests.factories import PlanFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
Status = Subscription.Status
RENEWAL = SubscriptionInvoice.Purpose.RENEWAL


# --- Helpers ------------------------------------------------------------------------------------


def _database_url() -> str:
    """The test database this test's rows are committed to, for the worker processes."""
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


class Worker:
    """One `manage.py run_billing --as-of` OS process, its output kept in files (a full pipe must
    never stall a worker that holds row locks)."""

    def __init__(self, as_of: datetime, folder: Path, name: str):
        self.out_path, self.err_path = folder / f"{name}.out", folder / f"{name}.err"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mediamanager.test_settings",
            "DATABASE_URL": _database_url(),
            "BILLING_ALLOW_TIME_TRAVEL": "1",
            # Small batches spread 2,000 renewals over the workers; with the default of 500 the first
            # worker to start could take them all before the others have imported Django.
            "BILLING_BATCH_SIZE": "50",
        }
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "run_billing", "--as-of", as_of.isoformat()],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )

    def finish(self, timeout: float = 300) -> Counter:
        """Wait for a clean exit; returns the counts it printed ("renewed 512, skipped 3")."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        out, err = self.out_path.read_text(), self.err_path.read_text()
        assert self.process.returncode == 0, out + err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        counts = Counter({name: int(count) for name, count in re.findall(r"([a-z_]+) (\d+)", out)})
        assert counts["error"] == 0, out + err[-3000:]
        return counts


def billed(counts: Counter) -> int:
    """Subscriptions a run did something to (renewals under whatever name the engine prints them),
    leaving out those it found taken by another worker."""
    return sum(n for outcome, n in counts.items() if outcome not in ("skipped", "idle"))


def run_billing_process(as_of: datetime, folder: Path, name: str = "worker") -> Counter:
    return Worker(as_of, folder, name).finish()


def _plan(code: str, interval: str) -> tuple[Plan, PlanPrice]:
    plan = PlanFactory(code=code, interval=interval, prices=[{"amount": "9.99", "currency": "EUR"}])
    return plan, PlanPrice.objects.get(plan=plan, amount_currency="EUR", is_current=True)


def _sandbox() -> GatewayAccount:
    return GatewayAccount.objects.filter(provider="sandbox").first() or gateway_account_create(
        provider="sandbox", display_name="Sandbox"
    )


def due_subscriptions(
    count: int, *, plan: Plan, price: PlanPrice, period_ends_at: datetime, prefix: str
) -> list[Subscription]:
    """`count` active subscriptions, each with its own customer and default sandbox card, whose
    period ended at `period_ends_at` (so they are due then), bulk-loaded in a few statements."""
    account = _sandbox()
    customers = Customer.objects.bulk_create(
        Customer(external_id=f"{prefix}-{i}", email=f"{prefix}-{i}@example.com", country="DE", currency="EUR")
        for i in range(count)
    )
    cards = SandboxCard.objects.bulk_create(
        SandboxCard(
            publishable_key=account.credentials["publishable_key"],
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
            fingerprint=f"fp-{prefix}-{i}",
            behaviour=SandboxCard.Behaviour.SUCCEED,
        )
        for i in range(count)
    )
    methods = PaymentMethod.objects.bulk_create(
        PaymentMethod(
            customer=customer,
            gateway_account=account,
            gateway_reference=card.token,
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
            fingerprint=card.fingerprint,
            is_default=True,
        )
        for customer, card in zip(customers, cards, strict=True)
    )
    start = period_ends_at - relativedelta(months=1) if plan.interval == "month" else period_ends_at - timedelta(days=1)
    return Subscription.objects.bulk_create(
        Subscription(
            customer=customer,
            plan=plan,
            price=price,
            currency="EUR",
            status=Status.ACTIVE,
            payment_method=method,
            current_period_start=start,
            current_period_end=period_ends_at,
            next_billing_at=period_ends_at,
            cycles_billed=1,
        )
        for customer, method in zip(customers, methods, strict=True)
    )


def renewal_counts() -> Counter:
    """Renewal invoices per subscription."""
    rows = SubscriptionInvoice.objects.filter(purpose=RENEWAL).values("subscription_id").annotate(n=Count("id"))
    return Counter({row["subscription_id"]: row["n"] for row in rows})


def charges_per_card() -> dict[str, int]:
    return dict(SandboxCharge.objects.values("card_id").annotate(n=Count("id")).values_list("card_id", "n"))


def assert_nobody_charged_twice(*, renewals_per_card: int | None = 1) -> None:
    """No invoice paid twice, no billing source invoiced twice, and (unless told otherwise) each
    card charged exactly once."""
    if renewals_per_card is not None:
        assert {card: n for card, n in charges_per_card().items() if n != renewals_per_card} == {}
    per_invoice = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED)
        .values("invoice_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(per_invoice) == []
    sources = Invoice.objects.values("source").annotate(n=Count("id")).filter(n__gt=1)
    assert list(sources) == []


def assert_renewed_once(subs: list[Subscription], *, old_end: datetime, plan: Plan) -> None:
    """Each subscription moved exactly one period on, paid by exactly one charge."""
    new_end = period_end(plan, old_end, anchor=old_end)
    ids = [sub.id for sub in subs]
    assert Subscription.objects.filter(pk__in=ids).count() == len(ids)
    stale = Subscription.objects.filter(pk__in=ids).exclude(
        status=Status.ACTIVE, cycles_billed=2, current_period_start=old_end, current_period_end=new_end
    )
    assert list(stale.values_list("id", "status", "cycles_billed", "current_period_end")) == []
    assert Subscription.objects.filter(pk__in=ids, next_billing_at=new_end).count() == len(ids)
    counts = renewal_counts()
    assert {sub_id: counts[sub_id] for sub_id in ids} == dict.fromkeys(ids, 1)


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


# --- 4. A charge whose answer was lost ----------------------------------------------------------


def _gateway_edge_fails(monkeypatch, *, after_charging: bool) -> None:
    """Every way the engine may charge the sandbox (one by one, or a batch) ends in a timeout,
    after the sandbox recorded the charge or before it got the request."""
    for name in ("charge", "charge_many"):
        real = getattr(SandboxGateway, name, None)
        if real is None:
            continue

        def timed_out(self, request, real=real):
            if after_charging:
                real(self, request)
            raise TimeoutError("read timed out" if after_charging else "connect timed out")

        monkeypatch.setattr(SandboxGateway, name, timed_out)


@pytest.fixture
def charge_times_out_after_the_gateway_charged(monkeypatch):
    _gateway_edge_fails(monkeypatch, after_charging=True)


@pytest.fixture
def charge_times_out_before_the_gateway_got_it(monkeypatch):
    _gateway_edge_fails(monkeypatch, after_charging=False)


def test_a_renewal_left_processing_by_a_timeout_is_reconciled_and_never_charged_again(
    charge_times_out_after_the_gateway_charged,
):
    plan, price = _plan("monthly-timeout", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    [sub] = due_subscriptions(1, plan=plan, price=price, period_ends_at=old_end, prefix="timeout")

    run_billing(as_of=as_of)
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.PROCESSING
    assert SandboxCharge.objects.count() == 1
    sub.refresh_from_db()
    assert (sub.status, sub.cycles_billed, sub.current_period_end) == (Status.ACTIVE, 1, old_end)

    # Runs while the answer is still missing: the same one at once, and later ones past the lease.
    for later in (timedelta(0), CLAIM_LEASE + timedelta(minutes=1), 2 * CLAIM_LEASE + timedelta(minutes=2)):
        run_billing(as_of=as_of + later)
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.count() == 1
    assert Payment.objects.get().attempts == 1
    assert Invoice.objects.count() == 1

    counts = payments_reconcile(as_of=timezone.now() + timedelta(minutes=30))
    run_billing(as_of=as_of + 3 * CLAIM_LEASE)

    assert counts["synced"] == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.gateway_reference == SandboxCharge.objects.get().id
    assert Invoice.objects.get().status == Invoice.Status.PAID
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.count() == 1
    assert_renewed_once([sub], old_end=old_end, plan=plan)


def test_a_renewal_charge_that_never_reached_the_gateway_is_sent_by_reconciliation_without_dunning(
    charge_times_out_before_the_gateway_got_it, monkeypatch
):
    plan, price = _plan("monthly-lost", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    [sub] = due_subscriptions(1, plan=plan, price=price, period_ends_at=old_end, prefix="lost")

    run_billing(as_of=as_of)
    run_billing(as_of=as_of + CLAIM_LEASE + timedelta(minutes=1))
    assert Payment.objects.get().status == Payment.Status.PROCESSING
    assert not SandboxCharge.objects.exists()

    monkeypatch.undo()  # the gateway answers again
    payments_reconcile(as_of=timezone.now() + timedelta(minutes=30))
    run_billing(as_of=as_of + timedelta(days=2))

    assert SandboxCharge.objects.count() == 1
    payment = Payment.objects.get()
    assert (payment.status, payment.attempts) == (Payment.Status.SUCCEEDED, 1)  # sent once, under its one key
    assert not Event.objects.filter(type__in=("payment.failed", "subscription.past_due")).exists()
    assert_renewed_once([sub], old_end=old_end, plan=plan)


# --- 5. A run that outlives its lease, a batch that fails half-way -------------------------------


def _one_by_one(sub: Subscription) -> None:
    """Keep `sub` off the set-based path: its card is not the customer's default, so it is billed
    one by one (to the card it signed up with)."""
    PaymentMethod.objects.filter(pk=sub.payment_method_id).update(is_default=False)


def test_a_run_that_outlives_its_lease_does_not_bill_again_what_the_next_run_renewed(monkeypatch):
    """django-q2 does not wait for the previous run: a slow run whose claim ran out overlaps the next
    one, which claims the same rows. The slow run must not then bill the following period early."""
    from plans import billing

    plan, price = _plan("monthly-overlap", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    subs = due_subscriptions(4, plan=plan, price=price, period_ends_at=old_end, prefix="overlap")
    _one_by_one(subs[0])
    _one_by_one(subs[1])
    real_claim = billing._claim_batch
    stalled = []

    def claim_then_stall(claim_as_of, size):
        ids = real_claim(claim_as_of, size)
        if ids and not stalled:  # the slow run: the next run starts and finishes while it stalls
            stalled.append(ids)
            run_billing(as_of=claim_as_of + CLAIM_LEASE + timedelta(minutes=1))
        return ids

    monkeypatch.setattr(billing, "_claim_batch", claim_then_stall)
    run_billing(as_of=as_of)

    assert sorted(stalled[0]) == sorted(sub.id for sub in subs)
    assert SandboxCharge.objects.count() == 4
    assert Invoice.objects.count() == 4
    assert_nobody_charged_twice()
    assert_renewed_once(subs, old_end=old_end, plan=plan)


def test_a_batch_that_fails_after_settling_does_not_bill_its_renewed_subscriptions_again(monkeypatch):
    """The engine falls back to billing a failed batch one by one; the subscriptions the batch had
    already renewed are then not due, and must not be billed for their next period."""
    from plans import billing

    plan, price = _plan("monthly-halfway", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    subs = due_subscriptions(4, plan=plan, price=price, period_ends_at=old_end, prefix="halfway")
    declining = subs[3]
    SandboxCard.objects.filter(pk=declining.payment_method.gateway_reference).update(
        behaviour=SandboxCard.Behaviour.DECLINE
    )

    def broken(**kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(billing, "payment_apply_result", broken)  # the batch's decline handling fails
    run_billing(as_of=as_of)
    monkeypatch.undo()

    assert SandboxCharge.objects.count() == 4
    assert Invoice.objects.count() == 4
    assert_nobody_charged_twice()
    assert_renewed_once(subs[:3], old_end=old_end, plan=plan)
    # The declined renewal waits for the sweep, which moves it into dunning without charging again.
    payments_reconcile(as_of=timezone.now() + timedelta(minutes=30))
    declining.refresh_from_db()
    assert declining.status == Status.PAST_DUE
    assert SandboxCharge.objects.count() == 4


# --- 5. An operator's "cancel now" while a renewal's charge is under way -------------------------


def _cancel_from_another_connection(sub: Subscription) -> None:
    """An operator cancels now, in another thread with its own database connection, committed
    before the engine's charge reaches the gateway."""

    def cancel():
        try:
            subscription_cancel(subscription=sub, at_period_end=False, reason=Subscription.CancelReason.OPERATOR)
        finally:
            connection.close()

    thread = threading.Thread(target=cancel)
    thread.start()
    thread.join()


def _assert_capture_refunded_not_kept(sub: Subscription) -> None:
    """The charge went through at the gateway, but the invoice it was for was voided: the money went
    straight back, the invoice stayed void, and the subscription did not renew."""
    sub.refresh_from_db()
    assert (sub.status, sub.cycles_billed, sub.next_billing_at) == (Status.CANCELED, 1, None)
    invoice = Invoice.objects.get(subscription_link__subscription=sub)
    assert invoice.status == Invoice.Status.VOID
    payment = Payment.objects.get(invoice=invoice)
    assert payment.status == Payment.Status.REFUNDED
    assert [(r.status, r.amount) for r in payment.refunds.all()] == [("succeeded", payment.amount)]
    assert SandboxRefund.objects.filter(charge__card_id=sub.payment_method.gateway_reference).count() == 1
    assert not Event.objects.filter(type="invoice.paid", payload__invoice__id=invoice.id).exists()
    assert Event.objects.filter(type="payment.refunded", payload__payment__id=payment.id).count() == 1
    assert not Event.objects.filter(type="subscription.renewed", customer_id=sub.customer_id).exists()


def test_a_cancel_between_a_batch_and_its_charge_refunds_the_capture(monkeypatch):
    plan, price = _plan("monthly-void-batch", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    subs = due_subscriptions(3, plan=plan, price=price, period_ends_at=old_end, prefix="void-batch")
    real = SandboxGateway.charge_many

    def cancel_then_charge(self, requests):
        _cancel_from_another_connection(subs[0])
        return real(self, requests)

    monkeypatch.setattr(SandboxGateway, "charge_many", cancel_then_charge)
    run_billing(as_of=as_of)

    assert SandboxCharge.objects.count() == 3  # the batch path took all three, the canceled one included
    _assert_capture_refunded_not_kept(subs[0])
    assert_renewed_once(subs[1:], old_end=old_end, plan=plan)


def test_a_cancel_between_a_one_by_one_renewal_and_its_charge_refunds_the_capture(monkeypatch):
    plan, price = _plan("monthly-void-single", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    (sub,) = due_subscriptions(1, plan=plan, price=price, period_ends_at=old_end, prefix="void-single")
    _one_by_one(sub)
    real = SandboxGateway.charge

    def cancel_then_charge(self, request):
        _cancel_from_another_connection(sub)
        return real(self, request)

    monkeypatch.setattr(SandboxGateway, "charge", cancel_then_charge)
    run_billing(as_of=as_of)

    assert SandboxCharge.objects.count() == 1
    _assert_capture_refunded_not_kept(sub)


def test_a_refund_of_a_capture_on_a_voided_invoice_that_never_started_is_made_by_the_sweep(monkeypatch):
    """The refund runs after commit; a worker that dies right then leaves the sweep to make it."""
    from payments.services import charges

    plan, price = _plan("monthly-void-sweep", "month")
    as_of = timezone.now()
    old_end = as_of - timedelta(days=1)
    (sub,) = due_subscriptions(1, plan=plan, price=price, period_ends_at=old_end, prefix="void-sweep")
    real = SandboxGateway.charge_many

    def cancel_then_charge(self, requests):
        _cancel_from_another_connection(sub)
        return real(self, requests)

    monkeypatch.setattr(SandboxGateway, "charge_many", cancel_then_charge)
    monkeypatch.setattr(charges, "_refund_unpayable_capture", lambda payment_id: False)  # the worker died then
    run_billing(as_of=as_of)
    monkeypatch.undo()
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED  # captured, on a void invoice

    assert payments_reconcile()["refunded"] == 1
    assert payments_reconcile()["refunded"] == 0
    _assert_capture_refunded_not_kept(sub)
