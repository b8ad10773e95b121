"""`return_url` (checkout, change-plan) is never an open redirect (API.md): https, at an allowed
origin (RETURN_URL_ALLOWED_ORIGINS; empty: SITE_URL's), http only while DEBUG."""

import pytest

from payments.tests.factories import sandbox_account, sandbox_card
from plans.models import Subscription
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

REFUSED = [
    "javascript:alert(1)",
    "https://evil.example.com/back",
    "http://app.example.com/back",  # http while DEBUG is off
    "https://app.example.com.evil.example/back",
    "//app.example.com/back",
    "https://app.example.com/" + "x" * 500,
    "ftp://app.example.com/back",
]


@pytest.fixture
def card(customer):
    return sandbox_card(customer=customer, account=sandbox_account())


def _error(response) -> tuple:
    error = response.json()["error"]
    return response.status_code, error["code"], error["param"]


@pytest.mark.parametrize("url", REFUSED)
def test_checkout_refuses_a_return_url_outside_the_allowed_origins(customer_client, card, url):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])

    response = customer_client.post(
        "/api/v1/me/checkout", {"plan": plan.id, "payment_method": card.id, "return_url": url}, format="json"
    )

    assert _error(response) == (400, "return_url_not_allowed", "return_url")
    assert not Subscription.objects.exists()


def test_a_return_url_with_a_nul_byte_is_refused_as_malformed(customer_client, card):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])

    response = customer_client.post(
        "/api/v1/me/checkout",
        {"plan": plan.id, "payment_method": card.id, "return_url": "https://app.example.com/\x00"},
        format="json",
    )

    assert _error(response) == (400, "parameter_invalid", "return_url")
    assert not Subscription.objects.exists()


def test_checkout_takes_a_return_url_at_an_allowed_origin(customer_client, card):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])

    response = customer_client.post(
        "/api/v1/me/checkout",
        {"plan": plan.id, "payment_method": card.id, "return_url": "https://APP.example.com/back?x=1"},
        format="json",
    )

    assert response.status_code == 201, response.content


def test_without_allowed_origins_only_the_sites_own_origin_is_taken(customer_client, card, settings):
    settings.RETURN_URL_ALLOWED_ORIGINS = []
    settings.SITE_URL = "https://billing.example.com"
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])
    body = {"plan": plan.id, "payment_method": card.id}

    refused = customer_client.post(
        "/api/v1/me/checkout", {**body, "return_url": "https://app.example.com/back"}, format="json"
    )
    taken = customer_client.post(
        "/api/v1/me/checkout", {**body, "return_url": "https://billing.example.com/done"}, format="json"
    )

    assert _error(refused) == (400, "return_url_not_allowed", "return_url")
    assert taken.status_code == 201, taken.content


def test_change_plan_refuses_a_return_url_outside_the_allowed_origins(customer_client, card):
    basic = PlanFactory(code="basic", prices=[{"amount": "5.00", "currency": "EUR"}])
    premium = PlanFactory(code="premium", prices=[{"amount": "20.00", "currency": "EUR"}])
    sub = customer_client.post(
        "/api/v1/me/checkout", {"plan": basic.id, "payment_method": card.id}, format="json"
    ).json()["subscription"]

    response = customer_client.post(
        f"/api/v1/me/subscriptions/{sub['id']}/change-plan",
        {"plan": premium.id, "return_url": "https://evil.example.com/"},
        format="json",
    )

    assert _error(response) == (400, "return_url_not_allowed", "return_url")
    assert Subscription.objects.get(pk=sub["id"]).plan_id == basic.id
