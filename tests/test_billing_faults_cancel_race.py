"""The billing engine's faults (issue 4) on PostgreSQL: an operator's "cancel now" from another
connection between a renewal's claim and its charge, on the batch and the one-by-one path. The
capture is refunded, the invoice stays void and the subscription does not renew; a refund that
never started is made by the reconciliation sweep."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import Event
from payments.gateways.sandbox.gateway import SandboxGateway
from payments.gateways.sandbox.models import SandboxCharge, SandboxRefund
from payments.models import Invoice, Payment
from payments.services import payments_reconcile
from plans.billing import run_billing
from plans.models import Subscription
from plans.services import subscription_cancel
from tests.billing_fault_helpers import Status, _one_by_one, _plan, assert_renewed_once, due_subscriptions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
