"""Fixtures of the cross-app subscription tests: a frozen clock that run_billing moves, a
customer's app, a monthly plan."""

import pytest
import time_machine

from payments.services import gateway_account_create
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import START, Billing


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
