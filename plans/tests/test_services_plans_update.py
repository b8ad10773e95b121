"""plan_update: new prices retire the old rows and keep the history, name, description and trial
change, and the structural terms of a plan in use (interval, cycles, kind, access days) are
refused while a plan nobody uses may change them."""

from decimal import Decimal

import pytest

from integrations.kernel.errors import Conflict, InvalidRequest, Unprocessable
from integrations.models import Event
from plans.models import Plan, PlanPrice
from plans.services import Trial, plan_archive, plan_update
from plans.tests.factories import PlanFactory, plan_in_use
from plans.tests.plan_services_helpers import _current_prices, _eur, _refused

pytestmark = pytest.mark.django_db


# plan_update: prices


def test_update_with_a_new_amount_adds_a_price_row_and_retires_the_old_one():
    plan = PlanFactory(prices=[_eur("9.99")])
    old = PlanPrice.objects.get(plan=plan)

    plan_update(plan=plan, prices=[_eur("12.49")])

    old.refresh_from_db()
    assert old.is_current is False
    assert old.retired_at is not None
    assert old.amount.amount == Decimal("9.99")
    new = PlanPrice.objects.get(plan=plan, is_current=True)
    assert new.pk != old.pk
    assert (new.amount.amount, new.currency, new.retired_at) == (Decimal("12.49"), "EUR", None)


def test_update_keeps_the_row_of_a_currency_whose_amount_did_not_change():
    plan = PlanFactory(prices=[_eur("9.99"), {"amount": "1000", "currency": "JPY"}])
    yen = PlanPrice.objects.get(plan=plan, amount_currency="JPY")

    plan_update(plan=plan, prices=[_eur("12.49"), {"amount": "1000", "currency": "JPY"}])

    yen.refresh_from_db()
    assert yen.is_current is True
    assert yen.retired_at is None
    assert PlanPrice.objects.filter(plan=plan, amount_currency="JPY").count() == 1


def test_update_without_the_currency_retires_its_price():
    plan = PlanFactory(prices=[_eur("9.99"), {"amount": "1000", "currency": "JPY"}])

    plan_update(plan=plan, prices=[_eur("9.99")])

    yen = PlanPrice.objects.get(plan=plan, amount_currency="JPY")
    assert yen.is_current is False
    assert yen.retired_at is not None
    assert _current_prices(plan) == {"EUR": Decimal("9.99")}


def test_update_with_a_new_currency_adds_its_price():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_update(plan=plan, prices=[_eur("9.99"), {"amount": "3.250", "currency": "KWD"}])

    assert _current_prices(plan) == {"EUR": Decimal("9.99"), "KWD": Decimal("3.250")}
    assert PlanPrice.objects.filter(plan=plan).count() == 2


def test_update_with_the_same_amount_written_differently_changes_nothing():
    plan = PlanFactory(prices=[_eur("9.99")])
    events = Event.objects.count()

    plan_update(plan=plan, prices=[_eur("9.990")])

    assert PlanPrice.objects.filter(plan=plan).count() == 1
    assert Event.objects.count() == events


def test_update_with_an_invalid_price_changes_no_price():
    plan = PlanFactory(prices=[_eur("9.99"), {"amount": "1000", "currency": "JPY"}])

    _refused(
        InvalidRequest,
        lambda: plan_update(plan=plan, prices=[_eur("12.49"), {"amount": "10.5", "currency": "JPY"}]),
        code="amount_too_precise",
        param="prices[1].amount",
    )
    assert _current_prices(plan) == {"EUR": Decimal("9.99"), "JPY": Decimal("1000")}


def test_update_refuses_an_empty_price_list():
    plan = PlanFactory()

    _refused(InvalidRequest, lambda: plan_update(plan=plan, prices=[]), code="parameter_missing", param="prices")


def test_update_keeps_the_retired_price_history_across_two_changes():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_update(plan=plan, prices=[_eur("10.99")])
    plan_update(plan=plan, prices=[_eur("11.99")])

    rows = PlanPrice.objects.filter(plan=plan)
    assert sorted((r.amount.amount, r.is_current) for r in rows) == [
        (Decimal("9.99"), False),
        (Decimal("10.99"), False),
        (Decimal("11.99"), True),
    ]


# plan_update: terms


def test_update_changes_name_and_description():
    plan = PlanFactory()

    plan_update(plan=plan, name="Renamed", description="Now with more.")

    plan.refresh_from_db()
    assert (plan.name, plan.description) == ("Renamed", "Now with more.")


def test_update_adds_and_removes_a_trial():
    plan = PlanFactory()

    plan_update(plan=plan, trial=Trial(7, "week", requires_payment_method=False))
    plan.refresh_from_db()
    assert (plan.trial_length, plan.trial_unit, plan.trial_requires_payment_method) == (7, "week", False)

    plan_update(plan=plan, trial=None)
    plan.refresh_from_db()
    assert (plan.trial_length, plan.trial_unit) == (None, "")


def test_update_refuses_a_field_that_is_not_editable():
    plan = PlanFactory()

    _refused(
        InvalidRequest, lambda: plan_update(plan=plan, status="archived"), code="parameter_invalid", param="status"
    )


def test_update_refuses_a_code_another_plan_has():
    PlanFactory(code="taken")
    plan = PlanFactory(code="mine")

    error = _refused(Conflict, lambda: plan_update(plan=plan, code="taken"), code="plan_exists", param="code")
    assert error.http_status == 409


def test_update_validates_the_merged_terms():
    plan = PlanFactory()  # recurring, monthly

    _refused(
        InvalidRequest,
        lambda: plan_update(plan=plan, kind="one_off", interval=None),
        code="parameter_invalid",
        param="access_days",
    )


_STRUCTURAL_CHANGES = [
    pytest.param({}, {"interval": "year"}, "interval", id="interval"),
    pytest.param({}, {"interval_count": 2}, "interval_count", id="interval_count"),
    pytest.param({}, {"billing_cycles": 12}, "billing_cycles", id="billing_cycles"),
    pytest.param({}, {"kind": "one_off", "interval": None, "access_days": 30}, "kind", id="kind"),
    pytest.param(
        {"kind": "one_off", "interval": None, "access_days": 2}, {"access_days": 7}, "access_days", id="access_days"
    ),
]


@pytest.mark.parametrize(("initial", "change", "param"), _STRUCTURAL_CHANGES)
def test_update_refuses_structural_terms_of_a_plan_in_use(initial, change, param):
    plan = PlanFactory(**initial)
    plan_in_use(plan)
    before = Plan.objects.values().get(pk=plan.pk)

    error = _refused(Unprocessable, lambda: plan_update(plan=plan, **change), code="plan_in_use", param=param)

    assert error.http_status == 422
    assert Plan.objects.values().get(pk=plan.pk) == before


@pytest.mark.parametrize(("initial", "change", "param"), _STRUCTURAL_CHANGES)
def test_update_changes_structural_terms_of_a_plan_nobody_uses(initial, change, param):
    plan = PlanFactory(**initial)

    plan_update(plan=plan, **change)

    plan.refresh_from_db()
    for field, value in change.items():
        assert getattr(plan, field) == (value or "")


def test_update_of_a_plan_in_use_refuses_structural_terms_even_with_a_price_change():
    plan = PlanFactory(prices=[_eur("9.99")])
    plan_in_use(plan)

    _refused(
        Unprocessable,
        lambda: plan_update(plan=plan, interval="year", prices=[_eur("99.00")]),
        code="plan_in_use",
        param="interval",
    )
    assert _current_prices(plan) == {"EUR": Decimal("9.99")}


def test_update_of_a_plan_in_use_still_changes_name_trial_and_prices():
    plan = PlanFactory(prices=[_eur("9.99")])
    plan_in_use(plan)

    plan_update(plan=plan, name="Renamed", trial=Trial(7, "day"), prices=[_eur("10.99")])

    plan.refresh_from_db()
    assert (plan.name, plan.trial_length) == ("Renamed", 7)
    assert _current_prices(plan) == {"EUR": Decimal("10.99")}


def test_update_of_a_plan_in_use_accepts_its_structural_terms_unchanged():
    plan = PlanFactory(interval="month", interval_count=1)
    plan_in_use(plan)

    plan_update(plan=plan, interval="month", interval_count=1, name="Same terms")

    plan.refresh_from_db()
    assert plan.name == "Same terms"


def test_update_keeps_an_archived_plan_archived():
    plan = PlanFactory()
    plan_archive(plan=plan)

    plan_update(plan=plan, name="Renamed", prices=[_eur("1.00")])

    plan.refresh_from_db()
    assert plan.status == Plan.Status.ARCHIVED
