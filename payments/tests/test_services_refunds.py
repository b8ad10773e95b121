"""Refund accounting: only confirmed refunds make a payment refunded."""

from moneyed import Money

from payments.gateways.base import RefundResult, RefundStatus
from payments.gateways.sandbox.gateway import SandboxGateway
from payments.models import Payment, Refund
from payments.services import payment_refund, refund_apply_result
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
