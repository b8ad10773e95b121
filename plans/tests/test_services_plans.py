"""plan_create / plan_update / plan_archive / plan_delete: validation, price history and events."""

from decimal import Decimal

import pytest

from integrations.kernel.errors import Conflict, InvalidRequest, Unprocessable
from integrations.kernel.representation import datetime_repr
from integrations.models import Event
from plans.models import Plan, PlanPrice
from plans.selectors import plan_is_referenced
from plans.services import Trial, plan_archive, plan_create, plan_delete, plan_update
from plans.tests.factories import PlanFactory, plan_in_use

pytestmark = pytest.mark.django_db


def _eur(amount="9.99"):
    return {"amount": amount, "currency": "EUR"}


def _terms(**overrides):
    terms = {
        "code": "monthly-hd",
        "name": "Monthly HD",
        "kind": "recurring",
        "interval": "month",
        "prices": [_eur()],
    }
    terms.update(overrides)
    return terms


def _one_off_terms(**overrides):
    return _terms(**{"code": "pass-48h", "kind": "one_off", "interval": None, "access_days": 2, **overrides})


def _current_prices(plan) -> dict[str, Decimal]:
    return {p.currency: p.amount.amount for p in PlanPrice.objects.filter(plan=plan, is_current=True)}


def _refused(error_class, call, *, code, param):
    """Runs `call`, asserts it raised `error_class` with `code` and `param`, and that nothing was written."""
    counts = (Plan.objects.count(), PlanPrice.objects.count(), Event.objects.count())
    with pytest.raises(error_class) as raised:
        call()
    assert (raised.value.code, raised.value.param) == (code, param)
    assert (Plan.objects.count(), PlanPrice.objects.count(), Event.objects.count()) == counts
    return raised.value


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


# plan_archive / plan_delete


def test_archive_takes_the_plan_off_sale():
    plan = PlanFactory()

    plan_archive(plan=plan)

    plan.refresh_from_db()
    assert plan.status == Plan.Status.ARCHIVED
    assert plan.archived_at is not None


def test_archive_twice_changes_nothing_the_second_time():
    plan = PlanFactory()
    plan_archive(plan=plan)
    archived_at = Plan.objects.get(pk=plan.pk).archived_at

    again = plan_archive(plan=plan)

    assert again.status == Plan.Status.ARCHIVED
    assert Plan.objects.get(pk=plan.pk).archived_at == archived_at
    assert Event.objects.filter(type="plan.archived").count() == 1


def test_archive_keeps_the_prices():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_archive(plan=plan)

    assert _current_prices(plan) == {"EUR": Decimal("9.99")}


def test_archive_is_allowed_for_a_plan_in_use():
    plan = PlanFactory()
    plan_in_use(plan)

    plan_archive(plan=plan)

    assert Plan.objects.get(pk=plan.pk).status == Plan.Status.ARCHIVED


def test_delete_removes_a_plan_nobody_uses_with_its_prices():
    plan = PlanFactory()

    plan_delete(plan=plan)

    assert not Plan.objects.filter(pk=plan.pk).exists()
    assert not PlanPrice.objects.filter(plan_id=plan.pk).exists()


def test_delete_refuses_a_plan_in_use():
    plan = PlanFactory()
    plan_in_use(plan)

    with pytest.raises(Unprocessable) as raised:
        plan_delete(plan=plan)

    assert raised.value.code == "plan_in_use"
    assert Plan.objects.filter(pk=plan.pk).exists()
    assert PlanPrice.objects.filter(plan=plan).count() == 2


def test_plan_is_referenced_is_false_for_a_fresh_plan():
    assert plan_is_referenced(plan=PlanFactory()) is False


@pytest.mark.parametrize("by", ["subscription", "access", "coupon"])
def test_plan_is_referenced_by_a_subscription_a_pass_or_a_coupon(by):
    plan = PlanFactory(**({} if by != "access" else {"kind": "one_off", "interval": None, "access_days": 2}))
    other = PlanFactory()

    plan_in_use(plan, by=by)

    assert plan_is_referenced(plan=plan) is True
    assert plan_is_referenced(plan=other) is False


# events


def _plan_object(plan: Plan, prices: list[dict]) -> dict:
    plan.refresh_from_db()
    return {
        "id": plan.id,
        "code": plan.code,
        "name": plan.name,
        "description": plan.description,
        "kind": plan.kind,
        "interval": plan.interval or None,
        "interval_count": plan.interval_count,
        "billing_cycles": plan.billing_cycles,
        "access_days": plan.access_days,
        "trial": None
        if plan.trial_length is None
        else {
            "length": plan.trial_length,
            "unit": plan.trial_unit,
            "requires_payment_method": plan.trial_requires_payment_method,
        },
        "prices": prices,
        "status": plan.status,
        "created_at": datetime_repr(plan.created_at),
        "updated_at": datetime_repr(plan.updated_at),
    }


def test_create_writes_a_plan_created_event_with_the_plan_object():
    plan = plan_create(
        **_terms(
            description="HD streams.",
            trial=Trial(7, "day"),
            prices=[{"amount": "1500", "currency": "JPY"}, _eur("9.9"), {"amount": "3.25", "currency": "KWD"}],
        )
    )

    event = Event.objects.get(type="plan.created")
    assert event.id.startswith("evt_")
    assert event.payload == {
        "plan": _plan_object(
            plan,
            [
                {"amount": "9.90", "currency": "EUR"},
                {"amount": "1500", "currency": "JPY"},
                {"amount": "3.250", "currency": "KWD"},
            ],
        )
    }


def test_update_writes_a_plan_updated_event_naming_what_changed():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_update(plan=plan, name="Renamed", trial=Trial(7, "day"), prices=[_eur("12.00")])

    event = Event.objects.get(type="plan.updated")
    assert event.payload["changed"] == ["name", "trial", "prices"]
    assert event.payload["plan"] == _plan_object(plan, [{"amount": "12.00", "currency": "EUR"}])


def test_update_that_only_reprices_names_prices_as_changed():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_update(plan=plan, prices=[_eur("9.99"), {"amount": "1000", "currency": "JPY"}])

    assert Event.objects.get(type="plan.updated").payload["changed"] == ["prices"]


def test_update_that_changes_nothing_writes_no_event():
    plan = PlanFactory(name="Same", prices=[_eur("9.99")])

    plan_update(plan=plan, name="Same", prices=[_eur("9.99")])

    assert not Event.objects.filter(type="plan.updated").exists()


def test_archive_writes_a_plan_archived_event_with_the_archived_plan():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_archive(plan=plan)

    event = Event.objects.get(type="plan.archived")
    assert event.payload == {"plan": _plan_object(plan, [{"amount": "9.99", "currency": "EUR"}])}
    assert event.payload["plan"]["status"] == "archived"


def test_a_refused_create_writes_no_event():
    PlanFactory(code="taken")
    events = Event.objects.count()

    with pytest.raises(Conflict):
        plan_create(**_terms(code="taken"))

    assert Event.objects.count() == events
