"""GET /api/v1/customers/{id}/export (API.md "Data protection"): everything held about a customer,
as JSON: profile, cards as brand and last four, subscriptions, passes, invoices, payments,
refunds, discounts and events."""

import json

import pytest
from rest_framework.test import APIClient

from conftest import client_for_customer
from integrations.kernel.api_keys import api_key_create
from payments.services import gateway_account_create
from plans.tests.factories import PlanFactory
from tests.payments_helpers import error_of, paid_checkout, refund

pytestmark = pytest.mark.django_db


def test_the_export_holds_everything_about_the_customer_and_no_card_number(operator_client, customer):
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    app = client_for_customer(customer)
    monthly = PlanFactory(code="monthly")
    bought = paid_checkout(app, monthly)
    refund(operator_client, bought["payment"]["id"], amount={"amount": "1.00", "currency": "EUR"})

    response = operator_client.get(f"/api/v1/customers/{customer.id}/export")

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["customer"]["id"] == customer.id and data["customer"]["email"] == customer.email
    assert [(m["brand"], m["last4"]) for m in data["payment_methods"]] == [("visa", "4242")]
    assert [s["id"] for s in data["subscriptions"]] == [bought["subscription"]["id"]]
    assert [i["id"] for i in data["invoices"]] == [bought["invoice"]["id"]]
    assert [p["id"] for p in data["payments"]] == [bought["payment"]["id"]]
    assert [r["amount"]["amount"] for r in data["refunds"]] == ["1.00"]
    assert {"payment.succeeded", "payment.refunded"} <= {e["type"] for e in data["events"]}
    assert data["discounts"] == [] and data["accesses"] == []
    assert "4242424242424242" not in json.dumps(data)


def test_an_unknown_customer_answers_404(operator_client):
    assert error_of(operator_client.get("/api/v1/customers/cus_nobody/export"))[0] == 404


def test_a_customer_token_cannot_export(customer, customer_client):
    response = customer_client.get(f"/api/v1/customers/{customer.id}/export")

    assert error_of(response) == (403, "permission_error", "operator_key_required")


def test_a_key_without_read_cannot_export(customer):
    raw, _ = api_key_create(name="writer", scopes=["customers:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert client.get(f"/api/v1/customers/{customer.id}/export").json()["error"]["code"] == "insufficient_scope"
