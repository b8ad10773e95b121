"""The sandbox only where SANDBOX_ENABLED, and cards and customer-initiated charges only through a
gateway account that serves the customer's country and currency (no free subscriptions by routing
to the sandbox with `?currency=`)."""

import pytest
from django.core.management import call_command

from conftest import client_for_customer
from payments.models import Payment, PaymentMethod
from payments.services import gateway_account_create
from payments.tests.factories import CustomerFactory
from plans.tests.factories import PlanFactory
from tests.payments_helpers import attach_card, error_of, tokenize

pytestmark = pytest.mark.django_db


@pytest.fixture
def euro_customer():
    return CustomerFactory(country="DE", currency="EUR")


def test_sandbox_defaults_on_with_debug_and_off_without(monkeypatch):
    import importlib

    import mediamanager.settings as production_settings

    monkeypatch.delenv("SANDBOX_ENABLED", raising=False)
    for debug, expected in (("1", True), ("0", False)):
        monkeypatch.setenv("DEBUG", debug)
        assert importlib.reload(production_settings).SANDBOX_ENABLED is expected
    monkeypatch.undo()
    importlib.reload(production_settings)


def test_with_the_sandbox_off_no_customer_is_routed_to_it_and_its_pages_are_gone(settings, euro_customer):
    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    app = client_for_customer(euro_customer)
    settings.SANDBOX_ENABLED = False

    gateway = app.get("/api/v1/me/gateway")
    token = tokenize(account.credentials["publishable_key"], "4242424242424242")
    challenge = app.get("/sandbox/v1/challenge/sbch_anything")

    assert error_of(gateway) == (422, "invalid_request_error", "no_gateway_available")
    assert token.status_code == 404
    assert challenge.status_code == 404


def test_with_the_sandbox_off_a_sandbox_card_pays_for_nothing(settings, euro_customer):
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    app = client_for_customer(euro_customer)
    card = attach_card(app)
    plan = PlanFactory()
    settings.SANDBOX_ENABLED = False

    response = app.post("/api/v1/me/checkout", {"plan": plan.id, "payment_method": card["id"]}, format="json")

    assert error_of(response) == (422, "invalid_request_error", "no_gateway_available")
    assert response.json()["error"]["param"] == "payment_method"
    assert not Payment.objects.exists()


def test_with_the_sandbox_off_a_renewal_on_a_sandbox_card_fails(settings, euro_customer):
    from moneyed import Money

    from payments.services import LineSpec, invoice_create, invoice_finalize, invoice_pay

    gateway_account_create(provider="sandbox", display_name="Sandbox")
    card = attach_card(client_for_customer(euro_customer))
    method = PaymentMethod.objects.get(pk=card["id"])
    settings.SANDBOX_ENABLED = False
    invoice = invoice_finalize(
        invoice=invoice_create(
            customer=euro_customer, currency="EUR", lines=[LineSpec("Renewal", Money("9.99", "EUR"))]
        )
    )

    payment = invoice_pay(invoice=invoice, payment_method=method, off_session=True)

    assert (payment.status, payment.decline_code) == (Payment.Status.FAILED, "gateway_disabled")


def test_a_card_is_attached_only_through_an_account_serving_the_customers_country_and_currency(euro_customer):
    usd_only = gateway_account_create(provider="sandbox", display_name="USD only", currencies=["USD"], priority=1)
    gateway_account_create(provider="sandbox", display_name="Euro", currencies=["EUR"], priority=2)
    app = client_for_customer(euro_customer)
    routed = app.get("/api/v1/me/gateway", {"currency": "USD"}).json()
    assert routed["id"] == usd_only.id  # routing for another currency is allowed, for display
    token = tokenize(routed["client"]["publishable_key"], "4242424242424242").json()["token"]

    response = app.post("/api/v1/me/payment-methods", {"gateway": usd_only.id, "token": token}, format="json")

    assert error_of(response) == (422, "invalid_request_error", "no_gateway_available")
    assert response.json()["error"]["param"] == "gateway"
    assert not PaymentMethod.objects.exists()


def test_a_checkout_is_charged_only_through_an_account_serving_the_customer(euro_customer):
    from payments.services import gateway_account_update

    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    app = client_for_customer(euro_customer)
    card = attach_card(app)
    gateway_account_update(account=account, countries=["JP"])  # no longer serves Germany

    response = app.post("/api/v1/me/checkout", {"plan": PlanFactory().id, "payment_method": card["id"]}, format="json")

    assert error_of(response) == (422, "invalid_request_error", "no_gateway_available")
    assert not Payment.objects.exists()


def test_creating_a_sandbox_account_with_the_sandbox_off_is_refused(settings):
    settings.SANDBOX_ENABLED = False

    from integrations.kernel.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="SANDBOX_ENABLED"):
        gateway_account_create(provider="sandbox", display_name="Sandbox")
    call_command("check")  # the project still loads with it off
