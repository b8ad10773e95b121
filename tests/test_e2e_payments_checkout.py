"""A one-off purchase end to end over HTTP with the sandbox gateway: the access, invoice and payment
a checkout answers and the entitlement it grants, and declined cards, which entitle nothing and
void the invoice."""

from datetime import datetime, timedelta

import pytest
from rest_framework.test import APIClient

from payments.models import Invoice, Payment
from plans.models import Access
from tests.payments_helpers import attach_card, buy, entitled, error_of, paid_checkout

pytestmark = pytest.mark.django_db


# --- A one-off purchase


def test_one_off_purchase_answers_201_with_access_invoice_and_payment(customer_client, customer, sandbox, event_pass):
    card = attach_card(customer_client)

    response = buy(customer_client, event_pass, card)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"subscription", "invoice", "payment", "setup"}
    assert body["setup"] is None  # only a trial behind a card that asks for 3-D Secure has one
    assert body["payment"]["id"].startswith("pay_")
    assert body["payment"]["status"] == "succeeded"
    assert body["payment"]["amount"] == {"amount": "9.99", "currency": "EUR"}
    assert body["payment"]["next_action"] is None
    assert body["invoice"]["status"] == "paid"
    assert body["invoice"]["customer"] == customer.id
    assert body["invoice"]["total"] == {"amount": "9.99", "currency": "EUR"}
    assert body["subscription"]["plan"] == event_pass.id
    assert body["subscription"]["status"] == "active"
    access_from = datetime.fromisoformat(body["subscription"]["access_from"])
    access_until = datetime.fromisoformat(body["subscription"]["access_until"])
    assert access_until - access_from == timedelta(days=2)


def test_one_off_purchase_entitles_the_customer_until_the_access_ends(customer_client, sandbox, event_pass):
    assert entitled(customer_client) is False
    body = paid_checkout(customer_client, event_pass)

    entitlements = customer_client.get("/api/v1/me/entitlements").json()

    assert entitlements["entitled"] is True
    assert len(entitlements["entitlements"]) == 1
    assert entitlements["entitlements"][0]["plan"] == event_pass.id
    assert entitlements["entitlements"][0]["source"] == "one_off"
    assert entitlements["entitlements"][0]["access_until"] == body["subscription"]["access_until"]


def test_one_off_purchase_charges_the_default_card_when_none_is_named(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)

    response = customer_client.post("/api/v1/me/checkout", {"plan": event_pass.id}, format="json")

    assert response.status_code == 201, response.content
    payment = Payment.objects.get(pk=response.json()["payment"]["id"])
    assert payment.payment_method_id == card["id"]
    assert payment.off_session is False


# --- Declines


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000009987", "lost_card"),
        ("4000000000000069", "expired_card"),
        ("4000000000000341", "card_declined"),
    ],
)
def test_a_declined_card_answers_402_and_entitles_nothing(customer_client, sandbox, event_pass, number, code):
    card = attach_card(customer_client, number)

    response = buy(customer_client, event_pass, card)

    assert error_of(response) == (402, "card_error", code)
    assert entitled(customer_client) is False
    payments = customer_client.get("/api/v1/me/payments").json()["results"]
    assert len(payments) == 1
    assert payments[0]["status"] == "failed"
    assert payments[0]["decline_code"] == code
    assert payments[0]["amount"] == {"amount": "9.99", "currency": "EUR"}
    assert Access.objects.get().status == Access.Status.FAILED
    assert Invoice.objects.get().status != Invoice.Status.PAID


def test_a_declined_card_leaves_the_customer_currency_unfixed(customer_client, customer, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000000002"))

    customer.refresh_from_db()
    assert customer.currency_fixed_at is None


def test_a_declined_one_off_purchase_voids_its_invoice_and_keeps_its_number(customer_client, db):
    from payments.models import Invoice
    from payments.services import gateway_account_create
    from plans.tests.factories import PlanFactory

    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    plan = PlanFactory(
        code="pass-void", kind="one_off", interval=None, access_days=1, prices=[{"amount": "3.00", "currency": "EUR"}]
    )
    gateway = customer_client.get("/api/v1/me/gateway").json()
    token = (
        APIClient()
        .post(
            "/sandbox/v1/tokens",
            {
                "publishable_key": gateway["client"]["publishable_key"],
                "card": {"number": "4000000000000002", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            },
            format="json",
        )
        .json()["token"]
    )
    method = customer_client.post(
        "/api/v1/me/payment-methods", {"gateway": account.id, "token": token}, format="json"
    ).json()
    response = customer_client.post(
        "/api/v1/me/checkout", {"plan": plan.id, "payment_method": method["id"]}, format="json"
    )
    assert response.status_code == 402
    invoice = Invoice.objects.get()
    assert invoice.status == Invoice.Status.VOID
    assert invoice.number is not None
