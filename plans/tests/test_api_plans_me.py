"""GET /api/v1/me/plans: the customer's catalogue, priced in their currency or a country's (yen
without decimals, dinar with three), leaving out plans without that price and archived ones, and
reached with a token the operator minted."""

import pytest
from rest_framework.test import APIClient

from conftest import client_for_customer
from payments.tests.factories import CustomerFactory
from plans.services import plan_update
from plans.tests.factories import PlanFactory
from plans.tests.plan_api_helpers import PLAN_FIELDS, _assert_error

pytestmark = pytest.mark.django_db


# GET /api/v1/me/plans


def _monthly(**overrides):
    return PlanFactory(
        **{
            "prices": [
                {"amount": "9.99", "currency": "EUR"},
                {"amount": "1500", "currency": "JPY"},
                {"amount": "3.25", "currency": "KWD"},
            ],
            **overrides,
        }
    )


def test_me_plans_prices_in_the_customer_currency_by_default(customer_client):
    plan = _monthly()

    response = customer_client.get("/api/v1/me/plans")

    assert response.status_code == 200
    [body] = response.json()["results"]
    assert body["id"] == plan.id
    assert body["price"] == {"amount": "9.99", "currency": "EUR"}


def test_me_plans_answers_the_customer_plan_object_with_price_not_prices(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans").json()["results"]

    assert set(body) == PLAN_FIELDS | {"price", "price_tax", "price_total"}
    assert "prices" not in body


def test_me_plans_default_follows_the_customer_currency_not_a_fixed_one(db):
    _monthly()
    client = client_for_customer(CustomerFactory(country="JP", currency="JPY"))

    [body] = client.get("/api/v1/me/plans").json()["results"]

    assert body["price"] == {"amount": "1500", "currency": "JPY"}


def test_me_plans_for_japan_prices_in_yen_without_decimals(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans?country=JP").json()["results"]

    assert body["price"] == {"amount": "1500", "currency": "JPY"}


def test_me_plans_for_kuwait_prices_in_dinar_with_three_decimals(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans?country=KW").json()["results"]

    assert body["price"] == {"amount": "3.250", "currency": "KWD"}


def test_me_plans_accepts_a_lower_case_country(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans?country=jp").json()["results"]

    assert body["price"]["currency"] == "JPY"


@pytest.mark.parametrize("country", ["XX", "JPN", "1"])
def test_me_plans_for_a_country_that_does_not_exist_answers_400_country_invalid(customer_client, country):
    _monthly()

    response = customer_client.get(f"/api/v1/me/plans?country={country}")

    _assert_error(response, 400, "country_invalid", "country")


def test_me_plans_leaves_out_plans_without_a_price_in_that_currency(customer_client):
    priced = _monthly()
    PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])

    results = customer_client.get("/api/v1/me/plans?country=JP").json()["results"]

    assert [plan["id"] for plan in results] == [priced.id]


def test_me_plans_answers_an_empty_list_for_a_currency_no_plan_has(customer_client):
    _monthly()

    response = customer_client.get("/api/v1/me/plans?country=CH")

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def test_me_plans_leaves_out_archived_plans(customer_client, operator_client):
    kept, archived = _monthly(), _monthly()

    assert operator_client.post(f"/api/v1/plans/{archived.id}/archive").status_code == 200
    results = customer_client.get("/api/v1/me/plans").json()["results"]

    assert [plan["id"] for plan in results] == [kept.id]


def test_me_plans_lists_a_repriced_plan_once_at_its_new_price(customer_client):
    plan = _monthly()
    plan_update(plan=plan, prices=[{"amount": "11.00", "currency": "EUR"}, {"amount": "1500", "currency": "JPY"}])

    results = customer_client.get("/api/v1/me/plans").json()["results"]

    assert [(p["id"], p["price"]) for p in results] == [(plan.id, {"amount": "11.00", "currency": "EUR"})]


def test_me_plans_drops_a_plan_whose_price_in_that_currency_was_removed(customer_client):
    plan = _monthly()
    plan_update(plan=plan, prices=[{"amount": "1500", "currency": "JPY"}])

    assert customer_client.get("/api/v1/me/plans").json()["results"] == []


def test_minted_token_reaches_me_plans_priced_in_the_customers_currency(operator_client):
    customer = CustomerFactory(country="JP", currency="JPY")
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}])
    raw = operator_client.post(f"/api/v1/customers/{customer.id}/tokens", {}, format="json").json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.get("/api/v1/me/plans")

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [plan.id]
    assert response.json()["results"][0]["price"] == {"amount": "1000", "currency": "JPY"}
