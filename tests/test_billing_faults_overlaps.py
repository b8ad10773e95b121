"""The billing engine's faults (issue 4) on PostgreSQL: a run that outlives its claim's lease and
overlaps the next run, and a batch that fails half-way and falls back to one by one. Neither may
bill a renewed subscription again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.gateways.sandbox.models import SandboxCard, SandboxCharge
from payments.models import Invoice
from payments.services import payments_reconcile
from plans.billing import run_billing
from plans.services import CLAIM_LEASE
from tests.billing_fault_helpers import (
    Status,
    _one_by_one,
    _plan,
    assert_nobody_charged_twice,
    assert_renewed_once,
    due_subscriptions,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- 5. A run that outlives its lease, a batch that fails half-way -------------------------------


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
