"""Evidence of where a customer is, through the HTTP API: the card's issuing country from the
gateway (the sandbox's country cards, Stripe's `card.country` through the Stripe double) and the
`ip_country` the app sends at checkout; and what erasure leaves of a business customer."""

from importlib import import_module

import pytest
from django.utils.module_loading import import_string

from mediamanager.schedules import SCHEDULES
from payments.models import Customer, PaymentMethod
from plans.models import Subscription
from tests.payments_helpers import attach_card, buy, error_of, tokenize
from tests.stripe_helpers import attach, stripe_js_tokenize

pytestmark = pytest.mark.django_db

COUNTRY_CARDS = [
    ("4242424242424242", "US"),
    ("4000002500000003", "FR"),
    ("4000002760000016", "DE"),
    ("4000008260000000", "GB"),
    ("4000000560000004", "BE"),
    ("4000003800000008", "IT"),
    ("4000005280000002", "NL"),
    ("4000007240000007", "ES"),
]


# --- The sandbox's country cards


@pytest.mark.parametrize(("number", "country"), COUNTRY_CARDS)
def test_a_sandbox_token_carries_the_cards_issuing_country(sandbox, number, country):
    response = tokenize(sandbox.credentials["publishable_key"], number)

    assert response.status_code == 201, response.content
    assert response.json()["card"]["country"] == country


@pytest.mark.parametrize(("number", "country"), COUNTRY_CARDS)
def test_an_attached_sandbox_card_keeps_its_issuing_country(customer_client, sandbox, number, country):
    card = attach_card(customer_client, number)

    assert card["country"] == country
    assert PaymentMethod.objects.get(pk=card["id"]).country == country
    listed = customer_client.get("/api/v1/me/payment-methods").json()["results"]
    assert [(method["id"], method["country"]) for method in listed] == [(card["id"], country)]


def test_a_card_of_no_known_country_shows_none(customer_client, sandbox):
    card = attach_card(customer_client, "5555555555554444")

    assert card["country"] is None
    assert PaymentMethod.objects.get(pk=card["id"]).country == ""


@pytest.mark.parametrize("number", ["4000002500000003", "4000007240000007"])
def test_a_country_card_pays_like_4242(customer_client, sandbox, monthly, number):
    response = buy(customer_client, monthly, attach_card(customer_client, number))

    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "succeeded"


# --- Stripe's card.country


@pytest.mark.parametrize(("number", "country"), [("4242424242424242", "US"), ("4000002760000016", "DE")])
def test_a_stripe_card_keeps_stripes_card_country(customer_client, stripe_account, double, number, country):
    response = attach(customer_client, stripe_account, stripe_js_tokenize(double, number))

    assert response.status_code == 201, response.content
    assert response.json()["country"] == country
    assert PaymentMethod.objects.get(pk=response.json()["id"]).country == country


# --- ip_country at checkout


@pytest.fixture
def seen_ip_country(monkeypatch):
    """What `ip_country` the checkout hands down to the subscription's start (its keyword argument)."""
    checkout_module = import_module("plans.services.checkout")  # the module, not the function of that name
    seen = []
    start = checkout_module.subscription_start

    def spy(**kwargs):
        seen.append(kwargs.get("ip_country"))
        return start(**kwargs)

    monkeypatch.setattr(checkout_module, "subscription_start", spy)
    return seen


def test_checkout_takes_ip_country_and_hands_it_down(customer_client, sandbox, monthly, seen_ip_country):
    response = buy(customer_client, monthly, attach_card(customer_client), ip_country="fr")

    assert response.status_code == 201, response.content
    assert seen_ip_country == ["FR"]


def test_checkout_without_ip_country_hands_down_none(customer_client, sandbox, monthly, seen_ip_country):
    assert buy(customer_client, monthly, attach_card(customer_client)).status_code == 201
    assert seen_ip_country == [""]


def test_checkout_takes_a_null_ip_country_as_none(customer_client, sandbox, monthly, seen_ip_country):
    assert buy(customer_client, monthly, attach_card(customer_client), ip_country=None).status_code == 201
    assert seen_ip_country == [""]


@pytest.mark.parametrize("ip_country", ["XX", "FRA", "F", "12", "F1", True, ["FR"], {"c": "FR"}])
def test_checkout_refuses_an_ip_country_that_is_not_an_iso_code(customer_client, sandbox, monthly, ip_country):
    response = buy(customer_client, monthly, attach_card(customer_client), ip_country=ip_country)

    assert error_of(response) == (400, "invalid_request_error", "parameter_invalid")
    assert response.json()["error"]["param"] == "ip_country"
    assert not Subscription.objects.exists()


def test_a_one_off_checkout_takes_ip_country(customer_client, sandbox, event_pass):
    response = buy(customer_client, event_pass, attach_card(customer_client), ip_country="DE")

    assert response.status_code == 201, response.content


def test_the_operators_subscription_create_takes_ip_country(
    operator_client, customer, sandbox, monthly, seen_ip_country
):
    card = attach_card(_client_of(customer))

    response = operator_client.post(
        "/api/v1/subscriptions",
        {"customer": customer.id, "plan": monthly.id, "payment_method": card["id"], "ip_country": "de"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert seen_ip_country == ["DE"]


def test_the_operators_subscription_create_refuses_a_bad_ip_country(operator_client, customer, sandbox, monthly):
    card = attach_card(_client_of(customer))

    response = operator_client.post(
        "/api/v1/subscriptions",
        {"customer": customer.id, "plan": monthly.id, "payment_method": card["id"], "ip_country": "ZZ"},
        format="json",
    )

    assert error_of(response) == (400, "invalid_request_error", "parameter_invalid")
    assert response.json()["error"]["param"] == "ip_country"


def _client_of(customer):
    from conftest import client_for_customer

    return client_for_customer(customer)


# --- Erasure of a business customer


def test_erasing_a_business_customer_clears_its_tax_id_and_business_name(operator_client):
    created = operator_client.post(
        "/api/v1/customers",
        {
            "external_id": "biz-1",
            "email": "b@acme.example",
            "country": "FR",
            "tax_id": "FR40303265045",
            "business_name": "ACME SA",
        },
        format="json",
    ).json()

    response = operator_client.post(f"/api/v1/customers/{created['id']}/erase", format="json")

    assert response.status_code == 200, response.content
    body = operator_client.get(f"/api/v1/customers/{created['id']}").json()
    assert (body["tax_id"], body["business_name"], body["tax_id_status"], body["tax_id_country"]) == (
        None,
        "",
        "unverified",
        None,
    )
    stored = Customer.objects.get(pk=created["id"])
    assert (stored.tax_id, stored.business_name) == (None, "")


# --- The VAT ids' re-check on the schedule


def test_the_vat_id_recheck_is_scheduled_daily_and_its_task_runs(db):
    task = next(task for task in SCHEDULES if task.name == "recheck-tax-ids")

    assert task.minutes == 1440
    assert import_string(task.func)() == 0  # nothing due on an empty database
