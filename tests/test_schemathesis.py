"""schemathesis drives the API from its own OpenAPI document (/api/schema/) through the WSGI app:
valid and invalid input for every operation (the coverage phase's invalid and boundary values, then
a few derandomized examples, valid and invalid), path ids of real objects with the credential the route wants and the
generated ids with the other credential, and nothing may answer 5xx.

Bounded to stay a test of the suite rather than a fuzzing campaign: the coverage phase does not
try unexpected HTTP methods (tests/test_hostile_input.py sends every method to every route) and the
fuzzing phase stops at MAX_EXAMPLES per operation."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from coupons.services import coupon_create
from payments.services import customer_token_create
from payments.tests.factories import sandbox_account, sandbox_card
from payments.tests.tax_helpers import registration, shipped_rates_loaded
from plans.services import checkout
from plans.tests.factories import PlanFactory

MAX_EXAMPLES = 8

# mediamanager.wsgi's application, less its refusal of the test settings' development keys.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
schema.config.generation.update(
    modes=["positive", "negative"], max_examples=MAX_EXAMPLES, deterministic=True, allow_x00=True
)
# The coverage phase's boundary and invalid values (its positive half is the fuzzing phase's work).
schema.config.phases.coverage.generation.update(modes=["negative"])
schema.config.phases.coverage.unexpected_methods = set()


@pytest.fixture
def _connection_kept():
    """As Django's test client does: the WSGI handler must not close the test's connection (and
    with it the transaction the test runs in) at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(api_key, customer, _connection_kept) -> dict:
    """The two credentials, and a real object for each kind of path id."""
    account = sandbox_account()
    card = sandbox_card(customer=customer, account=account)
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])
    bought = checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id)
    coupon = coupon_create(
        name="Bulk", kind="bulk", code_template="FUZZ-********", discount={"type": "percent", "percent_off": "10"}
    )
    raw, _ = customer_token_create(customer=customer)
    shipped_rates_loaded()
    tax_registration = registration(country="FR", scheme="domestic", number="FR40303265045")
    return {
        "operator": {"Authorization": f"Bearer {api_key}"},
        "customer": {"Authorization": f"Bearer {raw}"},
        "ids": {
            "customer_id": customer.id,
            "plan_id": plan.id,
            "subscription_id": bought.subscription.id,
            "payment_id": bought.payment.id,
            "invoice_id": bought.invoice.id,
            "payment_method_id": card.id,
            "coupon_id": coupon.id,
            "registration_id": tax_registration.id,
        },
    }


@pytest.mark.slow
@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx(case, world):
    right = "customer" if case.operation.path.startswith("/api/v1/me") else "operator"
    wrong = "operator" if right == "customer" else "customer"

    case.call_and_validate(headers=world[wrong], checks=[not_a_server_error])
    if case.path_parameters:
        case.path_parameters = {name: world["ids"].get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(headers=world[right], checks=[not_a_server_error])
