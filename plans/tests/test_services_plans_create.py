"""plan_create: the terms a recurring or one-off plan is made with (interval, cycles, access days,
trial, kind, code, name) and its prices (currencies, amounts and their decimals), each invalid
one refused with its code and param and nothing written."""

from decimal import Decimal

import pytest

from integrations.kernel.errors import Conflict, InvalidRequest
from plans.models import Plan
from plans.services import Trial, plan_create
from plans.tests.factories import PlanFactory
from plans.tests.plan_services_helpers import _current_prices, _eur, _one_off_terms, _refused, _terms

pytestmark = pytest.mark.django_db


# plan_create: terms


def test_create_makes_a_recurring_plan_with_its_prices():
    plan = plan_create(
        **_terms(interval_count=3, billing_cycles=4, prices=[_eur("9.99"), {"amount": "1500", "currency": "JPY"}])
    )

    plan.refresh_from_db()
    assert plan.id.startswith("pln_")
    assert (plan.kind, plan.interval, plan.interval_count, plan.billing_cycles, plan.access_days) == (
        "recurring",
        "month",
        3,
        4,
        None,
    )
    assert plan.status == Plan.Status.ACTIVE
    assert _current_prices(plan) == {"EUR": Decimal("9.99"), "JPY": Decimal("1500")}


def test_create_makes_a_one_off_plan_with_access_days():
    plan = plan_create(**_one_off_terms(access_days=2))

    plan.refresh_from_db()
    assert (plan.kind, plan.interval, plan.access_days, plan.billing_cycles) == ("one_off", "", 2, None)


def test_create_stores_a_trial():
    plan = plan_create(**_terms(trial=Trial(14, "day", requires_payment_method=False)))

    plan.refresh_from_db()
    assert (plan.trial_length, plan.trial_unit, plan.trial_requires_payment_method) == (14, "day", False)


@pytest.mark.parametrize("interval_count", [0, -1, True, "2"])
def test_create_refuses_an_interval_count_that_is_not_a_whole_number_of_at_least_one(interval_count):
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(interval_count=interval_count)),
        code="parameter_invalid",
        param="interval_count",
    )


def test_create_refuses_billing_cycles_below_one():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(billing_cycles=0)),
        code="parameter_invalid",
        param="billing_cycles",
    )


def test_create_refuses_a_one_off_plan_without_access_days():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_one_off_terms(access_days=None)),
        code="parameter_invalid",
        param="access_days",
    )


def test_create_refuses_a_one_off_plan_with_zero_access_days():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_one_off_terms(access_days=0)),
        code="parameter_invalid",
        param="access_days",
    )


@pytest.mark.parametrize("interval", [None, "", "fortnight"])
def test_create_refuses_a_recurring_plan_without_a_valid_interval(interval):
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(interval=interval)),
        code="parameter_invalid",
        param="interval",
    )


def test_create_refuses_a_recurring_plan_with_access_days():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(access_days=30)),
        code="parameter_invalid",
        param="access_days",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("interval", "month"), ("billing_cycles", 3), ("trial", Trial(7, "day"))],
)
def test_create_refuses_a_one_off_plan_with_recurring_terms(field, value):
    _refused(
        InvalidRequest,
        lambda: plan_create(**_one_off_terms(**{field: value})),
        code="parameter_invalid",
        param=field,
    )


def test_create_refuses_a_trial_of_zero_length():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(trial=Trial(0, "day"))),
        code="parameter_invalid",
        param="trial.length",
    )


def test_create_refuses_a_trial_unit_that_is_not_day_week_or_month():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(trial=Trial(1, "year"))),
        code="parameter_invalid",
        param="trial.unit",
    )


def test_create_refuses_an_unknown_kind():
    _refused(InvalidRequest, lambda: plan_create(**_terms(kind="lifetime")), code="parameter_invalid", param="kind")


@pytest.mark.parametrize("code", ["", "Monthly", "has space", "-leading-dash", "x" * 65])
def test_create_refuses_a_code_that_is_not_a_slug(code):
    _refused(InvalidRequest, lambda: plan_create(**_terms(code=code)), code="parameter_invalid", param="code")


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_refuses_a_blank_or_overlong_name(name):
    _refused(InvalidRequest, lambda: plan_create(**_terms(name=name)), code="parameter_missing", param="name")


def test_create_refuses_a_code_that_exists_with_a_conflict():
    PlanFactory(code="monthly-hd")

    error = _refused(Conflict, lambda: plan_create(**_terms(code="monthly-hd")), code="plan_exists", param="code")
    assert error.http_status == 409


# plan_create: prices


def test_create_refuses_a_plan_without_prices():
    _refused(InvalidRequest, lambda: plan_create(**_terms(prices=[])), code="parameter_missing", param="prices")


def test_create_refuses_a_price_that_is_not_an_amount_and_currency():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[_eur(), "9.99 EUR"])),
        code="parameter_invalid",
        param="prices[1]",
    )


def test_create_refuses_a_currency_that_is_not_enabled():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[_eur(), {"amount": "10.00", "currency": "CNY"}])),
        code="currency_not_enabled",
        param="prices[1].currency",
    )


@pytest.mark.parametrize("currency", ["EURO", "ZZZ", "E1R", None])
def test_create_refuses_a_currency_that_is_not_a_chargeable_iso_code(currency):
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[{"amount": "10.00", "currency": currency}])),
        code="currency_invalid",
        param="prices[0].currency",
    )


def test_create_refuses_more_euro_decimals_than_the_cent():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[{"amount": "1500", "currency": "JPY"}, _eur("9.999")])),
        code="amount_too_precise",
        param="prices[1].amount",
    )


def test_create_refuses_decimals_on_a_yen_amount():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[{"amount": "10.5", "currency": "JPY"}])),
        code="amount_too_precise",
        param="prices[0].amount",
    )


def test_create_accepts_three_decimals_for_kuwaiti_dinar():
    plan = plan_create(**_terms(prices=[{"amount": "1.250", "currency": "KWD"}]))

    assert _current_prices(plan) == {"KWD": Decimal("1.250")}


def test_create_accepts_trailing_zeros_beyond_the_minor_unit():
    plan = plan_create(**_terms(prices=[_eur("9.9900"), {"amount": "1500.0", "currency": "JPY"}]))

    assert _current_prices(plan) == {"EUR": Decimal("9.99"), "JPY": Decimal("1500")}


def test_create_accepts_an_integer_amount():
    plan = plan_create(**_terms(prices=[{"amount": 1500, "currency": "JPY"}]))

    assert _current_prices(plan) == {"JPY": Decimal("1500")}


def test_create_accepts_a_lower_case_currency_and_stores_it_upper_case():
    plan = plan_create(**_terms(prices=[{"amount": "9.99", "currency": "eur"}]))

    assert _current_prices(plan) == {"EUR": Decimal("9.99")}


@pytest.mark.parametrize("amount", ["-1.00", "-0.01"])
def test_create_refuses_a_negative_amount(amount):
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[_eur(amount)])),
        code="amount_invalid",
        param="prices[0].amount",
    )


@pytest.mark.parametrize("amount", [9.99, 10.0])
def test_create_refuses_a_float_amount(amount):
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[_eur(amount)])),
        code="amount_invalid",
        param="prices[0].amount",
    )


@pytest.mark.parametrize("amount", ["abc", "", "NaN", "Infinity", None, True])
def test_create_refuses_an_amount_that_is_not_a_decimal(amount):
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[_eur(amount)])),
        code="amount_invalid",
        param="prices[0].amount",
    )


def test_create_refuses_two_prices_in_one_currency():
    _refused(
        InvalidRequest,
        lambda: plan_create(**_terms(prices=[_eur("9.99"), {"amount": "8.99", "currency": "eur"}])),
        code="duplicate_currency",
        param="prices[1].currency",
    )
