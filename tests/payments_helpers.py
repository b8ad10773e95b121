"""Steps shared by the payment end-to-end tests (tests/test_e2e_payments_*.py): cards tokenized
with the sandbox and attached over HTTP, a one-off checkout, a refund, and reading errors,
entitlements and events back."""

from urllib.parse import urlsplit

from rest_framework.test import APIClient

RETURN_URL = "https://app.example.com/done"


def tokenize(key, number, exp_month=12, exp_year=2034, cvc="123"):
    return APIClient().post(
        "/sandbox/v1/tokens",
        {"publishable_key": key, "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}},
        format="json",
    )


def attach_card(client, number="4242424242424242"):
    gateway = client.get("/api/v1/me/gateway").json()
    token = tokenize(gateway["client"]["publishable_key"], number)
    assert token.status_code == 201, token.content
    response = client.post(
        "/api/v1/me/payment-methods", {"gateway": gateway["id"], "token": token.json()["token"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def buy(client, plan, card, **extra):
    return client.post("/api/v1/me/checkout", {"plan": plan.id, "payment_method": card["id"], **extra}, format="json")


def paid_checkout(client, plan, number="4242424242424242"):
    response = buy(client, plan, attach_card(client, number))
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "succeeded"
    return response.json()


def error_of(response):
    error = response.json()["error"]
    return response.status_code, error["type"], error["code"]


def entitled(client) -> bool:
    return client.get("/api/v1/me/entitlements").json()["entitled"]


def challenge_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def events_of(operator_client, type_):
    response = operator_client.get("/api/v1/events", {"type": type_})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def refund(operator_client, payment_id, **body):
    return operator_client.post(f"/api/v1/payments/{payment_id}/refunds", body, format="json")
