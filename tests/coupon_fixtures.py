"""Fixtures of the coupon route tests (tests/test_api_coupons_*.py): a monthly plan at 10.00 EUR,
a yearly one at 100.00 EUR, and the customer's sandbox card.

They are not in tests/conftest.py, whose `monthly` (at 9.99 EUR) the other cross-app tests use:
each coupon test module imports the ones it needs, and pytest registers them under their `name`
for that module, over tests/conftest.py's."""

import pytest

from payments.tests.factories import sandbox_card
from plans.tests.factories import PlanFactory


@pytest.fixture(name="monthly")
def fixture_monthly(db):
    return PlanFactory(
        code="monthly",
        name="Monthly",
        interval="month",
        prices=[{"amount": "10.00", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}],
    )


@pytest.fixture(name="yearly")
def fixture_yearly(db):
    return PlanFactory(code="yearly", name="Yearly", interval="year", prices=[{"amount": "100.00", "currency": "EUR"}])


@pytest.fixture(name="card")
def fixture_card(customer, sandbox):
    return sandbox_card(customer=customer, account=sandbox)
