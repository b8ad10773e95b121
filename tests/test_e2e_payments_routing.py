"""Payments end to end over HTTP: which gateway account GET /api/v1/me/gateway routes a customer to,
by priority, country and currency, skipping inactive accounts, and the 422 when none serves."""

import pytest

from conftest import client_for_customer
from payments.services import gateway_account_create, gateway_account_update
from payments.tests.factories import CustomerFactory
from tests.payments_helpers import error_of

pytestmark = pytest.mark.django_db


# --- Routing: GET /api/v1/me/gateway


def test_gateway_is_the_first_active_account_by_priority_serving_country_and_currency(customer_client):
    gateway_account_create(provider="sandbox", display_name="Japan only", countries=["JP"], priority=10)
    gateway_account_create(provider="sandbox", display_name="Off", priority=20, active=False)
    euro = gateway_account_create(provider="sandbox", display_name="Euro", currencies=["EUR"], priority=30)
    gateway_account_create(provider="sandbox", display_name="Fallback", priority=40)

    response = customer_client.get("/api/v1/me/gateway")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == euro.id
    assert body["kind"] == "sandbox"
    assert body["client"]["publishable_key"] == euro.credentials["publishable_key"]
    assert body["client"]["tokenize_url"].endswith("/sandbox/v1/tokens")
    assert "secret_key" not in body["client"]


def test_gateway_for_another_country_skips_accounts_that_do_not_serve_it():
    japan = gateway_account_create(provider="sandbox", display_name="Japan", countries=["JP"], priority=10)
    rest = gateway_account_create(provider="sandbox", display_name="Rest", priority=20)

    jp = client_for_customer(CustomerFactory(country="JP", currency="JPY")).get("/api/v1/me/gateway")
    de = client_for_customer(CustomerFactory(country="DE", currency="EUR")).get("/api/v1/me/gateway")

    assert jp.json()["id"] == japan.id
    assert de.json()["id"] == rest.id


def test_gateway_with_no_countries_serves_every_country():
    anywhere = gateway_account_create(provider="sandbox", display_name="Anywhere", countries=[], currencies=["EUR"])

    for country in ("DE", "PT", "FI"):
        client = client_for_customer(CustomerFactory(country=country, currency="EUR"))
        assert client.get("/api/v1/me/gateway").json()["id"] == anywhere.id


def test_gateway_skips_an_inactive_account(customer_client):
    gateway_account_create(provider="sandbox", display_name="Off", priority=1, active=False)
    on = gateway_account_create(provider="sandbox", display_name="On", priority=50)

    assert customer_client.get("/api/v1/me/gateway").json()["id"] == on.id


def test_gateway_answers_422_when_the_only_account_is_inactive(customer_client):
    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    gateway_account_update(account=account, active=False)

    response = customer_client.get("/api/v1/me/gateway")

    assert error_of(response) == (422, "invalid_request_error", "no_gateway_available")


def test_gateway_answers_422_no_gateway_available_for_a_currency_nobody_serves():
    gateway_account_create(provider="sandbox", display_name="Euro", currencies=["EUR"])
    client = client_for_customer(CustomerFactory(country="GB", currency="GBP"))

    response = client.get("/api/v1/me/gateway")

    assert error_of(response) == (422, "invalid_request_error", "no_gateway_available")
    assert response.json()["error"]["param"] == "currency"


def test_gateway_currency_param_routes_for_that_currency(customer_client):
    euro = gateway_account_create(provider="sandbox", display_name="Euro", currencies=["EUR"], priority=10)
    yen = gateway_account_create(provider="sandbox", display_name="Yen", currencies=["JPY"], priority=20)

    assert customer_client.get("/api/v1/me/gateway").json()["id"] == euro.id
    assert customer_client.get("/api/v1/me/gateway", {"currency": "JPY"}).json()["id"] == yen.id
    assert customer_client.get("/api/v1/me/gateway", {"currency": "jpy"}).json()["id"] == yen.id
    missing = customer_client.get("/api/v1/me/gateway", {"currency": "USD"})
    assert error_of(missing) == (422, "invalid_request_error", "no_gateway_available")


def test_gateway_currency_param_that_is_no_currency_answers_400(customer_client, sandbox):
    response = customer_client.get("/api/v1/me/gateway", {"currency": "XXX"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("currency_invalid", "currency_not_enabled")
