"""Currencies end to end over HTTP: a Japanese customer pays and is refunded in yen without decimals,
and a customer's first payment fixes their currency, which until then follows their country."""

from decimal import Decimal

import pytest

from conftest import client_for_customer
from payments.gateways.sandbox.models import SandboxCharge
from payments.models import Customer, Payment, Refund
from payments.tests.factories import CustomerFactory
from tests.payments_helpers import paid_checkout, refund

pytestmark = pytest.mark.django_db


# --- Currencies


def test_a_japanese_customer_pays_in_yen_without_decimals(operator_client, sandbox, event_pass):
    customer = CustomerFactory(country="JP", currency="JPY")
    client = client_for_customer(customer)

    plans = client.get("/api/v1/me/plans").json()["results"]
    body = paid_checkout(client, event_pass)
    payment = client.get(f"/api/v1/me/payments/{body['payment']['id']}").json()
    partial = refund(operator_client, body["payment"]["id"], amount="300")

    assert plans[0]["price"] == {"amount": "700", "currency": "JPY"}
    assert body["payment"]["amount"] == {"amount": "700", "currency": "JPY"}
    assert body["invoice"]["total"] == {"amount": "700", "currency": "JPY"}
    assert payment["amount"] == {"amount": "700", "currency": "JPY"}
    assert payment["fee"] == {"amount": "45", "currency": "JPY"}  # 2.9% of 700 + 25 yen, half-up
    assert partial.status_code == 201, partial.content
    assert partial.json()["amount"] == {"amount": "300", "currency": "JPY"}
    assert SandboxCharge.objects.get().amount == Decimal("700")


def test_a_yen_refund_with_decimals_is_refused(operator_client, sandbox, event_pass):
    client = client_for_customer(CustomerFactory(country="JP", currency="JPY"))
    payment_id = paid_checkout(client, event_pass)["payment"]["id"]

    response = refund(operator_client, payment_id, amount="300.5")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "amount_too_precise"
    assert not Refund.objects.exists()


def test_the_first_payment_fixes_the_customer_currency(operator_client, customer_client, customer, sandbox, event_pass):
    assert customer.currency_fixed_at is None

    body = paid_checkout(customer_client, event_pass)

    customer.refresh_from_db()
    assert customer.currency == "EUR"
    assert customer.currency_fixed_at is not None
    assert customer.currency_fixed_at == Payment.objects.get(pk=body["payment"]["id"]).captured_at
    moved = operator_client.patch(f"/api/v1/customers/{customer.id}", {"country": "JP"}, format="json")
    assert moved.status_code == 200, moved.content
    assert moved.json()["country"] == "JP"
    assert moved.json()["currency"] == "EUR"


def test_before_any_payment_the_currency_follows_the_country(operator_client, customer):
    moved = operator_client.patch(f"/api/v1/customers/{customer.id}", {"country": "JP"}, format="json")

    assert moved.json()["currency"] == "JPY"
    assert Customer.objects.get(pk=customer.id).currency_fixed_at is None
