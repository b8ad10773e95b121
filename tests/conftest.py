"""Fixtures of the cross-app tests: a frozen clock that run_billing moves, a customer's app, a
monthly and a premium plan for the subscription tests; the sandbox gateway account and a one-off
event pass for the payment tests; the Stripe double (one server per session) and a Stripe gateway
account on it; the Adyen double and an Adyen account on it."""

import pytest
import stripe
import time_machine

from payments.services import gateway_account_create
from payments.tests.adyen_double import AdyenDouble
from payments.tests.stripe_double import StripeDouble
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import START, Billing

# Steps shared by the split test modules live in these helpers; pytest rewrites their asserts as it
# does a test module's, so a failing step still shows the values it compared.
pytest.register_assert_rewrite(
    "tests.adyen_helpers",
    "tests.billing_fault_helpers",
    "tests.gateway_drivers",
    "tests.coupon_helpers",
    "tests.payments_helpers",
    "tests.stripe_helpers",
    "tests.subscription_lifecycle_helpers",
)


@pytest.fixture
def billing(api_key, django_capture_on_commit_callbacks):
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    with time_machine.travel(START, tick=False) as traveller:
        yield Billing(traveller=traveller, capture=django_capture_on_commit_callbacks, api_key=api_key)


@pytest.fixture
def app(billing, customer):
    return billing.app(customer)


@pytest.fixture
def monthly(db):
    return PlanFactory(code="monthly", name="Monthly", interval="month")


@pytest.fixture
def premium(db):
    return PlanFactory(
        code="premium",
        name="Premium",
        interval="month",
        prices=[{"amount": "19.99", "currency": "EUR"}, {"amount": "2000", "currency": "JPY"}],
    )


@pytest.fixture
def sandbox(db):
    return gateway_account_create(provider="sandbox", display_name="Sandbox")


@pytest.fixture
def event_pass(db):
    return PlanFactory(
        code="event-pass",
        kind="one_off",
        interval=None,
        access_days=2,
        prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "700", "currency": "JPY"}],
    )


@pytest.fixture(scope="session")
def stripe_server():
    double = StripeDouble().start()
    yield double
    double.stop()


@pytest.fixture
def double(stripe_server, monkeypatch):
    stripe_server.reset()
    stripe_server.fail_next.clear()
    monkeypatch.setattr(stripe, "api_base", stripe_server.url)  # dj-stripe's own calls
    return stripe_server


@pytest.fixture
def stripe_account(db, double):
    from tests.stripe_helpers import SECRET_KEY, WEBHOOK_SECRET  # after its asserts are set to be rewritten

    return gateway_account_create(
        provider="stripe",
        display_name="Stripe",
        credentials={
            "secret_key": SECRET_KEY,
            "publishable_key": "pk_test_double",
            "webhook_secret": WEBHOOK_SECRET,
            "api_base": double.url,
        },
    )


@pytest.fixture
def trial_plan(db):
    """A monthly plan whose first week is a free trial behind a card."""
    from plans.services import Trial

    return PlanFactory(
        code="trial",
        interval="month",
        trial=Trial(7, "day", requires_payment_method=True),
        prices=[{"amount": "9.99", "currency": "EUR"}],
    )


@pytest.fixture
def buyer(db):
    """A customer in Germany paying in euros, and their app's client."""
    from conftest import client_for_customer
    from payments.tests.factories import CustomerFactory

    customer = CustomerFactory(country="DE", currency="EUR")
    return customer, client_for_customer(customer)


@pytest.fixture(scope="session")
def adyen_server():
    double = AdyenDouble().start()
    yield double
    double.stop()


@pytest.fixture
def adyen(adyen_server):
    adyen_server.reset()
    return adyen_server


@pytest.fixture
def adyen_account(db, adyen):
    from payments.tests.adyen_double import API_KEY, CLIENT_KEY, HMAC_KEY, MERCHANT_ACCOUNT

    return gateway_account_create(
        provider="adyen",
        display_name="Adyen",
        credentials={
            "api_key": API_KEY,
            "merchant_account": MERCHANT_ACCOUNT,
            "hmac_key": HMAC_KEY,
            "client_key": CLIENT_KEY,
            "environment": "test",
            "api_base": adyen.url,
        },
        priority=10,
    )
