"""Refund accounting: only confirmed refunds make a payment refunded; reconciliation looks a refund
up at the gateway and sends it again only when the gateway positively has none."""

from datetime import timedelta

from django.utils import timezone
from moneyed import Money

from payments.gateways.base import RefundResult, RefundStatus
from payments.gateways.sandbox.gateway import SandboxGateway
from payments.gateways.sandbox.models import SandboxRefund
from payments.models import Payment, Refund
from payments.services import payment_refund, refund_apply_result, refunds_reconcile
from payments.tests.factories import CustomerFactory, succeeded_payment


def test_a_pending_refund_does_not_make_the_payment_refunded_and_a_failed_one_gives_its_amount_back(db, monkeypatch):
    payment = succeeded_payment(customer=CustomerFactory())
    monkeypatch.setattr(SandboxGateway, "refund", lambda self, **kw: RefundResult(RefundStatus.PENDING))
    pending = payment_refund(payment=payment, amount=Money("4.00", "EUR"))
    assert pending.status == Refund.Status.PENDING
    monkeypatch.undo()
    rest = payment_refund(payment=payment)  # the 5.99 left
    assert rest.status == Refund.Status.SUCCEEDED
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED  # the 4.00 is not confirmed yet

    refund_apply_result(refund=pending, result=RefundResult(RefundStatus.FAILED, message="bank said no"))
    payment.refresh_from_db()
    assert payment.amount_refunded == rest.amount.amount
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED
    again = payment_refund(payment=payment)  # the 4.00 can be refunded again
    assert again.status == Refund.Status.SUCCEEDED
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED


def test_refunding_while_everything_left_is_reserved_by_a_pending_refund_answers_refund_exceeds_payment(
    db, monkeypatch
):
    import pytest

    from integrations.kernel.errors import Unprocessable

    payment = succeeded_payment(customer=CustomerFactory())
    monkeypatch.setattr(SandboxGateway, "refund", lambda self, **kw: RefundResult(RefundStatus.PENDING))
    payment_refund(payment=payment)
    with pytest.raises(Unprocessable) as error:
        payment_refund(payment=payment)
    assert error.value.code == "refund_exceeds_payment"


# --- Reconciliation: look the refund up, never send it twice


def _sent_long_ago(refund, **delta):
    then = timezone.now() - timedelta(**delta)
    Refund.objects.filter(pk=refund.pk).update(requested_at=then, updated_at=then)


def _never_arrives(self, **kwargs):
    raise TimeoutError("connect timed out")


def test_the_sandbox_looks_a_refund_up_by_its_reference_or_our_key(db):
    payment = succeeded_payment(customer=CustomerFactory())
    refund = payment_refund(payment=payment, amount=Money("4.00", "EUR"))
    gateway = SandboxGateway(payment.gateway_account)
    by_reference = gateway.refund_lookup(
        reference=refund.gateway_reference, payment_reference=payment.gateway_reference, idempotency_key=""
    )
    by_key = gateway.refund_lookup(reference="", payment_reference=payment.gateway_reference, idempotency_key=refund.id)
    missing = gateway.refund_lookup(reference="", payment_reference=payment.gateway_reference, idempotency_key="ref_x")
    assert by_reference == by_key == RefundResult(RefundStatus.SUCCEEDED, reference=refund.gateway_reference)
    assert missing.status == RefundStatus.NOT_FOUND


def test_a_refund_that_never_reached_the_sandbox_is_sent_again_once_and_only_when_it_cannot_be_in_flight(
    db, monkeypatch
):
    payment = succeeded_payment(customer=CustomerFactory())
    monkeypatch.setattr(SandboxGateway, "refund", _never_arrives)
    refund = payment_refund(payment=payment)
    monkeypatch.undo()
    _sent_long_ago(refund, minutes=10)

    refunds_reconcile()

    assert not SandboxRefund.objects.exists()
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
    _sent_long_ago(refund, minutes=40)

    refunds_reconcile()
    _sent_long_ago(refund, minutes=40)
    refunds_reconcile()

    assert SandboxRefund.objects.get().idempotency_key == refund.id
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (Payment.Status.REFUNDED, payment.amount.amount)


def test_reconciliation_never_sends_again_a_refund_its_gateway_cannot_look_up(db, monkeypatch):
    payment = succeeded_payment(customer=CustomerFactory())
    monkeypatch.setattr(SandboxGateway, "refund", _never_arrives)
    refund = payment_refund(payment=payment)
    monkeypatch.undo()
    monkeypatch.setattr(SandboxGateway, "supports_refund_lookup", False)
    _sent_long_ago(refund, days=2)

    refunds_reconcile()

    assert not SandboxRefund.objects.exists()  # its webhook will say; a blind resend could refund twice
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
