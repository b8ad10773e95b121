"""The events payments write, read from the operator's event log over HTTP: a purchase's attach,
invoice and payment events, a decline, a payment waiting for 3-D Secure, and a refund."""

import pytest

from tests.payments_helpers import attach_card, buy, events_of, paid_checkout, refund

pytestmark = pytest.mark.django_db


# --- Events


def test_a_purchase_writes_attach_invoice_and_payment_events(operator_client, customer_client, sandbox, event_pass):
    body = paid_checkout(customer_client, event_pass)
    payment_id, invoice_id = body["payment"]["id"], body["invoice"]["id"]

    attached = events_of(operator_client, "payment_method.attached")
    created = events_of(operator_client, "invoice.created")
    paid = events_of(operator_client, "invoice.paid")
    succeeded = events_of(operator_client, "payment.succeeded")

    assert [e["type"] for e in attached] == ["payment_method.attached"]
    assert attached[0]["data"]["payment_method"]["last4"] == "4242"
    assert [e["data"]["invoice"]["id"] for e in created] == [invoice_id]
    assert [e["data"]["invoice"]["id"] for e in paid] == [invoice_id]
    assert paid[0]["data"]["invoice"]["number"] == body["invoice"]["number"]
    assert [e["data"]["payment"]["id"] for e in succeeded] == [payment_id]
    assert succeeded[0]["data"]["payment"]["amount"] == {"amount": "9.99", "currency": "EUR"}
    assert succeeded[0]["customer"] == body["invoice"]["customer"]


def test_a_decline_writes_payment_failed(operator_client, customer_client, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000009995"))

    failed = events_of(operator_client, "payment.failed")

    assert len(failed) == 1
    assert failed[0]["data"]["payment"]["decline_code"] == "insufficient_funds"
    assert events_of(operator_client, "payment.succeeded") == []
    assert events_of(operator_client, "invoice.paid") == []


def test_an_authentication_writes_payment_requires_action(operator_client, customer_client, sandbox, event_pass):
    body = buy(customer_client, event_pass, attach_card(customer_client, "4000002760003184")).json()

    events = events_of(operator_client, "payment.requires_action")

    assert [e["data"]["payment"]["id"] for e in events] == [body["payment"]["id"]]
    assert events[0]["data"]["payment"]["status"] == "requires_action"


def test_a_refund_writes_payment_refunded(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    refund_id = refund(operator_client, payment_id, amount="1.00").json()["id"]

    events = events_of(operator_client, "payment.refunded")

    assert len(events) == 1
    assert events[0]["data"]["refund"]["id"] == refund_id
    assert events[0]["data"]["refund"]["amount"] == {"amount": "1.00", "currency": "EUR"}
    assert events[0]["data"]["payment"]["status"] == "partially_refunded"
