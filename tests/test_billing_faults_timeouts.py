"""The billing engine's faults (issue 4) on PostgreSQL: a renewal charge whose answer was lost to a
timeout, after the gateway charged or before it got the request, is settled by reconciliation
and never charged twice nor sent into dunning."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Event
from payments.gateways.sandbox.gateway import SandboxGateway
from payments.gateways.sandbox.models import SandboxCharge
from payments.models import Invoice, Payment
from payments.services import payments_reconcile
from plans.billing import run_billing
from plans.services import CLAIM_LEASE
from tests.billing_fault_helpers import Status, _plan, assert_renewed_once, due_subscriptions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
