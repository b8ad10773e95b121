"""Refunds end to end over HTTP with the sandbox gateway: a partial then a full refund and the access
it ends, and the refunds that are refused (too much, nothing left, a failed or unauthenticated
payment, no operator key)."""

from decimal import Decimal

import pytest

from payments.gateways.sandbox.models import SandboxCharge, SandboxRefund
from payments.models import Payment, Refund
from plans.models import Access
from tests.payments_helpers import attach_card, buy, entitled, error_of, paid_checkout, refund

pytestmark = pytest.mark.django_db


# --- Refunds


def test_partial_then_full_refund_moves_the_payment_and_ends_access(
    operator_client, customer_client, sandbox, event_pass
):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    partial = refund(operator_client, payment_id, amount="4.00", reason="requested_by_customer")

    assert partial.status_code == 201, partial.content
    assert partial.json()["id"].startswith("ref_")
    assert partial.json()["amount"] == {"amount": "4.00", "currency": "EUR"}
    assert partial.json()["status"] == "succeeded"
    after_partial = operator_client.get(f"/api/v1/payments/{payment_id}").json()
    assert after_partial["status"] == "partially_refunded"
    assert after_partial["amount_refunded"] == {"amount": "4.00", "currency": "EUR"}
    assert entitled(customer_client) is True

    rest = refund(operator_client, payment_id)

    assert rest.status_code == 201, rest.content
    assert rest.json()["amount"] == {"amount": "5.99", "currency": "EUR"}
    after_full = operator_client.get(f"/api/v1/payments/{payment_id}").json()
    assert after_full["status"] == "refunded"
    assert after_full["amount_refunded"] == {"amount": "9.99", "currency": "EUR"}
    assert entitled(customer_client) is False
    assert Access.objects.get().status == Access.Status.REFUNDED
    assert SandboxCharge.objects.get().amount_refunded == Decimal("9.99")


def test_refund_accepts_a_money_object(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    response = refund(operator_client, payment_id, amount={"amount": "1.50", "currency": "EUR"})

    assert response.status_code == 201, response.content
    assert Payment.objects.get(pk=payment_id).amount_refunded == Decimal("1.50")


def test_refund_over_what_is_left_is_refused_and_nothing_changes(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    assert refund(operator_client, payment_id, amount="4.00").status_code == 201
    before = Payment.objects.values("status", "amount_refunded", "updated_at").get(pk=payment_id)

    too_much = refund(operator_client, payment_id, amount="6.00")

    assert error_of(too_much) == (422, "invalid_request_error", "refund_exceeds_payment")
    assert too_much.json()["error"]["param"] == "amount"
    assert Payment.objects.values("status", "amount_refunded", "updated_at").get(pk=payment_id) == before
    assert Refund.objects.count() == 1
    assert SandboxRefund.objects.count() == 1
    assert entitled(customer_client) is True


def test_refund_of_more_than_the_payment_is_refused(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    response = refund(operator_client, payment_id, amount="10.00")

    assert error_of(response) == (422, "invalid_request_error", "refund_exceeds_payment")
    assert Payment.objects.get(pk=payment_id).status == Payment.Status.SUCCEEDED
    assert Payment.objects.get(pk=payment_id).amount_refunded == 0
    assert not Refund.objects.exists()
    assert not SandboxRefund.objects.exists()


def test_refund_of_a_refunded_payment_is_refused(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    assert refund(operator_client, payment_id).status_code == 201

    again = refund(operator_client, payment_id)

    assert again.status_code == 422
    assert Refund.objects.count() == 1


def test_refund_of_a_failed_payment_is_refused(operator_client, customer_client, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000000002"))
    payment = Payment.objects.get()

    response = refund(operator_client, payment.id)

    assert error_of(response) == (422, "invalid_request_error", "payment_not_refundable")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (Payment.Status.FAILED, 0)
    assert not Refund.objects.exists()


def test_refund_of_a_payment_waiting_for_authentication_is_refused(
    operator_client, customer_client, sandbox, event_pass
):
    body = buy(customer_client, event_pass, attach_card(customer_client, "4000002760003184")).json()

    response = refund(operator_client, body["payment"]["id"], amount="1.00")

    assert error_of(response) == (422, "invalid_request_error", "payment_not_refundable")
    assert not Refund.objects.exists()


def test_refund_needs_the_operator_key(customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    response = refund(customer_client, payment_id, amount="1.00")

    assert response.status_code == 403
    assert not Refund.objects.exists()
