"""Idempotent replays end to end: a checkout (paid or declined) or a refund posted again with the same
Idempotency-Key charges or refunds once and answers the same; the key with another body is refused."""

from decimal import Decimal

import pytest

from payments.gateways.sandbox.models import SandboxCharge, SandboxRefund
from payments.models import Invoice, Payment, Refund
from plans.models import Access
from tests.payments_helpers import RETURN_URL, attach_card, error_of, paid_checkout

pytestmark = pytest.mark.django_db


# --- Idempotent checkout


def test_a_replayed_checkout_with_the_same_idempotency_key_charges_once(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)
    body = {"plan": event_pass.id, "payment_method": card["id"]}

    first = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-1")
    second = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-1")

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1
    assert Invoice.objects.count() == 1
    assert Access.objects.count() == 1


def test_a_replayed_declined_checkout_replays_the_402_without_charging_again(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000000000009995")
    body = {"plan": event_pass.id, "payment_method": card["id"]}

    first = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-2")
    second = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-2")

    assert first.status_code == second.status_code == 402
    assert second.content == first.content
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1


def test_the_same_idempotency_key_with_another_checkout_body_answers_422(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)
    customer_client.post(
        "/api/v1/me/checkout",
        {"plan": event_pass.id, "payment_method": card["id"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="checkout-3",
    )

    response = customer_client.post(
        "/api/v1/me/checkout",
        {"plan": event_pass.id, "payment_method": card["id"], "return_url": RETURN_URL},
        format="json",
        HTTP_IDEMPOTENCY_KEY="checkout-3",
    )

    assert error_of(response) == (422, "invalid_request_error", "idempotency_key_reused")
    assert Payment.objects.count() == 1


def test_a_replayed_refund_with_the_same_idempotency_key_refunds_once(
    operator_client, customer_client, sandbox, event_pass
):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    url = f"/api/v1/payments/{payment_id}/refunds"

    first = operator_client.post(url, {"amount": "2.00"}, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")
    second = operator_client.post(url, {"amount": "2.00"}, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")

    assert first.status_code == 201
    assert second.content == first.content
    assert Refund.objects.count() == 1
    assert SandboxRefund.objects.count() == 1
    assert Payment.objects.get(pk=payment_id).amount_refunded == Decimal("2.00")
