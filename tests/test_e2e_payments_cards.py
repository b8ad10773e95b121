"""Cards end to end over HTTP with the sandbox gateway: tokenizing a card (POST /sandbox/v1/tokens)
and the customer's cards at /api/v1/me/payment-methods: attach, make default, delete, and another
customer's cards."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import client_for_customer
from payments.services import gateway_account_create, gateway_account_update
from payments.tests.factories import CustomerFactory
from tests.payments_helpers import attach_card, error_of, tokenize

pytestmark = pytest.mark.django_db


# --- Tokenizing: POST /sandbox/v1/tokens


def test_tokenize_refuses_a_number_failing_the_luhn_check(sandbox):
    response = tokenize(sandbox.credentials["publishable_key"], "4242424242424241")

    assert error_of(response) == (400, "invalid_request_error", "invalid_number")
    assert response.json()["error"]["param"] == "card.number"


def test_tokenize_refuses_an_expired_card_with_402_expired_card(sandbox):
    last_month = timezone.now().date().replace(day=1) - timedelta(days=1)

    response = tokenize(
        sandbox.credentials["publishable_key"], "4242424242424242", exp_month=last_month.month, exp_year=last_month.year
    )

    assert error_of(response) == (402, "card_error", "expired_card")


def test_tokenize_accepts_a_card_expiring_this_month(sandbox):
    today = timezone.now().date()

    response = tokenize(sandbox.credentials["publishable_key"], "4242424242424242", today.month, today.year)

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4242424242424242", "visa"), ("5555555555554444", "mastercard"), ("378282246310005", "amex")],
)
def test_tokenize_reads_the_brand_from_the_number(sandbox, number, brand):
    response = tokenize(sandbox.credentials["publishable_key"], number, cvc="1234" if brand == "amex" else "123")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"].startswith("tok_")
    assert body["card"] == {"brand": brand, "last4": number[-4:], "country": "US" if brand == "visa" else None}
    assert number not in response.content.decode()


def test_tokenize_refuses_an_unknown_publishable_key(sandbox):
    response = tokenize("pk_sandbox_unknown", "4242424242424242")

    assert error_of(response) == (400, "invalid_request_error", "invalid_publishable_key")


def test_tokenize_answers_404_when_no_sandbox_account_is_active(db):
    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    key = account.credentials["publishable_key"]
    gateway_account_update(account=account, active=False)

    assert tokenize(key, "4242424242424242").status_code == 404


def test_tokenize_answers_404_when_there_is_no_sandbox_account(db):
    assert tokenize("pk_sandbox_whatever", "4242424242424242").status_code == 404


# --- Cards: /api/v1/me/payment-methods


def test_attach_answers_201_with_the_card_and_the_first_card_is_the_default(customer_client, sandbox):
    token = tokenize(sandbox.credentials["publishable_key"], "5555555555554444", exp_month=3, exp_year=2031)

    response = customer_client.post(
        "/api/v1/me/payment-methods", {"gateway": sandbox.id, "token": token.json()["token"]}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("pm_")
    assert {k: body[k] for k in ("gateway", "brand", "last4", "exp_month", "exp_year", "is_default")} == {
        "gateway": sandbox.id,
        "brand": "mastercard",
        "last4": "4444",
        "exp_month": 3,
        "exp_year": 2031,
        "is_default": True,
    }


def test_attach_a_second_card_leaves_the_first_as_default(customer_client, sandbox):
    first = attach_card(customer_client)
    second = attach_card(customer_client, "5555555555554444")

    assert second["is_default"] is False
    listed = customer_client.get("/api/v1/me/payment-methods").json()["results"]
    assert [(m["id"], m["is_default"]) for m in listed] == [(second["id"], False), (first["id"], True)]


def test_attach_refuses_a_token_of_another_gateway(customer_client, sandbox):
    other = gateway_account_create(provider="sandbox", display_name="Other", priority=200)
    token = tokenize(other.credentials["publishable_key"], "4242424242424242").json()["token"]

    response = customer_client.post(
        "/api/v1/me/payment-methods", {"gateway": sandbox.id, "token": token}, format="json"
    )

    assert error_of(response) == (400, "invalid_request_error", "invalid_token")


def test_make_default_moves_the_default_to_that_card(customer_client, sandbox):
    first = attach_card(customer_client)
    second = attach_card(customer_client, "5555555555554444")

    response = customer_client.post(f"/api/v1/me/payment-methods/{second['id']}/default")

    assert response.status_code == 200, response.content
    assert response.json()["is_default"] is True
    listed = {m["id"]: m["is_default"] for m in customer_client.get("/api/v1/me/payment-methods").json()["results"]}
    assert listed == {first["id"]: False, second["id"]: True}


def test_delete_the_default_card_answers_204_and_the_default_moves_to_the_remaining_card(customer_client, sandbox):
    first = attach_card(customer_client)
    second = attach_card(customer_client, "5555555555554444")

    response = customer_client.delete(f"/api/v1/me/payment-methods/{first['id']}")

    assert response.status_code == 204
    listed = customer_client.get("/api/v1/me/payment-methods").json()["results"]
    assert [(m["id"], m["is_default"]) for m in listed] == [(second["id"], True)]


def test_delete_a_card_twice_answers_404_the_second_time(customer_client, sandbox):
    card = attach_card(customer_client)

    assert customer_client.delete(f"/api/v1/me/payment-methods/{card['id']}").status_code == 204
    assert customer_client.delete(f"/api/v1/me/payment-methods/{card['id']}").status_code == 404


def test_another_customers_card_answers_404(customer_client, sandbox):
    other_client = client_for_customer(CustomerFactory())
    theirs = attach_card(other_client)

    assert customer_client.delete(f"/api/v1/me/payment-methods/{theirs['id']}").status_code == 404
    assert customer_client.post(f"/api/v1/me/payment-methods/{theirs['id']}/default").status_code == 404
    assert customer_client.get("/api/v1/me/payment-methods").json()["results"] == []
    assert other_client.get("/api/v1/me/payment-methods").json()["results"][0]["id"] == theirs["id"]
