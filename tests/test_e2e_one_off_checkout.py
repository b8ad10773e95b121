"""A one-off purchase end to end over HTTP with the sandbox gateway."""

import pytest
from rest_framework.test import APIClient

from plans.tests.factories import PlanFactory


@pytest.fixture
def event_pass(db):
    return PlanFactory(
        code="event-pass",
        kind="one_off",
        interval=None,
        access_days=2,
        prices=[{"amount": "4.99", "currency": "EUR"}, {"amount": "700", "currency": "JPY"}],
    )


def tokenize(client, key, number, exp_month=12, exp_year=2034, cvc="123"):
    return client.post(
        "/sandbox/v1/tokens",
        {"publishable_key": key, "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}},
        format="json",
    )


def attach_card(customer_client, number="4242424242424242"):
    gateway = customer_client.get("/api/v1/me/gateway").json()
    token = tokenize(APIClient(), gateway["client"]["publishable_key"], number)
    assert token.status_code == 201, token.content
    response = customer_client.post(
        "/api/v1/me/payment-methods", {"gateway": gateway["id"], "token": token.json()["token"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_one_off_purchase_grants_access_for_the_plan_days(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)
    response = customer_client.post(
        "/api/v1/me/checkout", {"plan": event_pass.id, "payment_method": card["id"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["payment"]["status"] == "succeeded"
    assert body["invoice"]["status"] == "paid"
    assert body["invoice"]["number"].startswith("INV-")
    assert body["subscription"]["status"] == "active"
    entitlements = customer_client.get("/api/v1/me/entitlements").json()
    assert entitlements["entitled"] is True
    assert entitlements["entitlements"][0]["plan"] == event_pass.id


def test_three_d_secure_challenge_approved_settles_the_payment(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002760003184")
    response = customer_client.post(
        "/api/v1/me/checkout",
        {"plan": event_pass.id, "payment_method": card["id"], "return_url": "https://app.example.com/done"},
        format="json",
    )
    body = response.json()
    assert body["payment"]["status"] == "requires_action"
    url = body["payment"]["next_action"]["url"]
    assert body["subscription"]["status"] == "pending"
    assert customer_client.get("/api/v1/me/entitlements").json()["entitled"] is False
    browser = APIClient()
    path = url.split("localhost:8000", 1)[1]
    page = browser.get(path)
    assert page.status_code == 200 and b"Approve" in page.content
    done = browser.post(path, {"action": "approve"})
    assert done.status_code == 302
    assert done["Location"].startswith("https://app.example.com/done?payment=pay_")
    payment = customer_client.get(f"/api/v1/me/payments/{body['payment']['id']}").json()
    assert payment["status"] == "succeeded"
    assert customer_client.get("/api/v1/me/entitlements").json()["entitled"] is True
