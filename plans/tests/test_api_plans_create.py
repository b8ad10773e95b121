"""POST /api/v1/plans: the plan object it answers (contract fields, timestamps, amounts in the
currency's digits), what it writes, and the 400s and 409 for invalid terms and prices, which
write nothing."""

import re

import pytest

from integrations.models import Event
from plans.models import Plan
from plans.tests.factories import PlanFactory
from plans.tests.plan_api_helpers import PLAN_FIELDS, _assert_error, _body, _by_currency, _counts, _one_off_body

pytestmark = pytest.mark.django_db

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


# POST /api/v1/plans


def test_create_answers_201_with_the_plan_object(operator_client):
    response = operator_client.post(
        "/api/v1/plans",
        {
            "code": "monthly-hd",
            "name": "Monthly HD",
            "description": "HD streams.",
            "kind": "recurring",
            "interval": "month",
            "interval_count": 1,
            "trial": {"length": 7, "unit": "day", "requires_payment_method": False},
            "prices": [{"amount": "9.99", "currency": "EUR"}, {"amount": "1500", "currency": "JPY"}],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    plan = Plan.objects.get()
    assert {key: value for key, value in body.items() if key not in ("created_at", "updated_at")} == {
        "id": plan.id,
        "code": "monthly-hd",
        "name": "Monthly HD",
        "description": "HD streams.",
        "kind": "recurring",
        "interval": "month",
        "interval_count": 1,
        "billing_cycles": None,
        "access_days": None,
        "trial": {"length": 7, "unit": "day", "requires_payment_method": False},
        "tax_behavior": "inclusive",
        "tax_category": "digital_services",
        "prices": [{"amount": "9.99", "currency": "EUR"}, {"amount": "1500", "currency": "JPY"}],
        "status": "active",
    }
    assert body["id"].startswith("pln_")


def test_create_answers_only_the_contract_fields_and_timestamps(operator_client):
    body = operator_client.post("/api/v1/plans", _body(), format="json").json()

    assert set(body) == PLAN_FIELDS | {"prices", "created_at", "updated_at"}
    assert ISO_UTC.match(body["created_at"]) and ISO_UTC.match(body["updated_at"])


def test_a_one_off_plan_takes_and_shows_a_null_interval_count(operator_client):
    response = operator_client.post(
        "/api/v1/plans", _one_off_body(access_days=2, interval=None, interval_count=None), format="json"
    )

    assert response.status_code == 201, response.content
    assert (response.json()["interval"], response.json()["interval_count"]) == (None, None)
    assert operator_client.get(f"/api/v1/plans/{response.json()['id']}").json()["interval_count"] is None


def test_a_one_off_plan_refuses_an_interval_count(operator_client):
    response = operator_client.post("/api/v1/plans", _one_off_body(access_days=2, interval_count=3), format="json")

    _assert_error(response, 400, "parameter_invalid", "interval_count")


def test_create_answers_a_one_off_plan_with_null_interval_and_no_trial(operator_client):
    response = operator_client.post("/api/v1/plans", _one_off_body(access_days=2), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["interval"], body["access_days"], body["billing_cycles"], body["trial"]) == (
        "one_off",
        None,
        2,
        None,
        None,
    )


def test_create_defaults_the_trial_to_requiring_a_payment_method(operator_client):
    response = operator_client.post("/api/v1/plans", _body(trial={"length": 1, "unit": "month"}), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["trial"] == {"length": 1, "unit": "month", "requires_payment_method": True}


def test_create_renders_amounts_with_exactly_the_currency_digits(operator_client):
    response = operator_client.post(
        "/api/v1/plans",
        _body(
            prices=[
                {"amount": "9.9", "currency": "EUR"},
                {"amount": "1500", "currency": "JPY"},
                {"amount": "3.25", "currency": "KWD"},
                {"amount": "10", "currency": "USD"},
            ]
        ),
        format="json",
    )

    assert response.status_code == 201, response.content
    assert _by_currency(response.json()["prices"]) == [
        {"amount": "9.90", "currency": "EUR"},
        {"amount": "1500", "currency": "JPY"},
        {"amount": "3.250", "currency": "KWD"},
        {"amount": "10.00", "currency": "USD"},
    ]


def test_create_accepts_a_lower_case_currency(operator_client):
    response = operator_client.post(
        "/api/v1/plans", _body(prices=[{"amount": "9.99", "currency": "gbp"}]), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["prices"] == [{"amount": "9.99", "currency": "GBP"}]


def test_create_writes_the_plan_and_its_prices(operator_client):
    body = operator_client.post(
        "/api/v1/plans",
        _body(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "3.250", "currency": "KWD"}]),
        format="json",
    ).json()

    plan = Plan.objects.get(pk=body["id"])
    assert sorted((str(p.amount.amount), p.currency, p.is_current) for p in plan.prices.all()) == [
        ("3.2500", "KWD", True),
        ("9.9900", "EUR", True),
    ]
    assert Event.objects.filter(type="plan.created").count() == 1


_INVALID_CREATES = [
    pytest.param(
        _body(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "9.999", "currency": "USD"}]),
        "amount_too_precise",
        "prices[1].amount",
        id="too-many-cents",
    ),
    pytest.param(
        _body(prices=[{"amount": "10.5", "currency": "JPY"}]),
        "amount_too_precise",
        "prices[0].amount",
        id="yen-decimals",
    ),
    pytest.param(
        _body(prices=[{"amount": "-1.00", "currency": "EUR"}]), "amount_invalid", "prices[0].amount", id="negative"
    ),
    pytest.param(_body(prices=[{"amount": 9.99, "currency": "EUR"}]), "amount_invalid", "prices[0].amount", id="float"),
    pytest.param(
        _body(prices=[{"amount": "ten", "currency": "EUR"}]), "amount_invalid", "prices[0].amount", id="not-a-number"
    ),
    pytest.param(_body(prices=[{"currency": "EUR"}]), "amount_invalid", "prices[0].amount", id="no-amount"),
    pytest.param(
        _body(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "10.00", "currency": "CNY"}]),
        "currency_not_enabled",
        "prices[1].currency",
        id="currency-not-enabled",
    ),
    pytest.param(
        _body(prices=[{"amount": "9.99", "currency": "EURO"}]),
        "currency_invalid",
        "prices[0].currency",
        id="bad-currency",
    ),
    pytest.param(
        _body(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "8.99", "currency": "EUR"}]),
        "duplicate_currency",
        "prices[1].currency",
        id="duplicate-currency",
    ),
    pytest.param(_body(prices=[]), "parameter_missing", "prices", id="no-prices"),
    pytest.param(
        {k: v for k, v in _body().items() if k != "prices"}, "parameter_missing", "prices", id="prices-absent"
    ),
    pytest.param(_body(interval_count=0), "parameter_invalid", "interval_count", id="interval-count-zero"),
    pytest.param(_body(interval_count="often"), "parameter_invalid", "interval_count", id="interval-count-text"),
    pytest.param(_body(billing_cycles=0), "parameter_invalid", "billing_cycles", id="billing-cycles-zero"),
    pytest.param(_body(interval=None), "parameter_invalid", "interval", id="recurring-without-interval"),
    pytest.param(_body(interval="fortnight"), "parameter_invalid", "interval", id="unknown-interval"),
    pytest.param(_body(trial={"length": 7, "unit": "year"}), "parameter_invalid", "trial.unit", id="trial-unit"),
    pytest.param(_body(kind="lifetime"), "parameter_invalid", "kind", id="unknown-kind"),
    pytest.param(_body(access_days=30), "parameter_invalid", "access_days", id="recurring-with-access-days"),
    pytest.param(_one_off_body(access_days=None), "parameter_invalid", "access_days", id="one-off-without-access-days"),
    pytest.param(_one_off_body(interval="month"), "parameter_invalid", "interval", id="one-off-with-interval"),
    pytest.param(_one_off_body(billing_cycles=2), "parameter_invalid", "billing_cycles", id="one-off-with-cycles"),
    pytest.param(
        _one_off_body(trial={"length": 7, "unit": "day"}), "parameter_invalid", "trial", id="one-off-with-trial"
    ),
    pytest.param(_body(trial={"length": 0, "unit": "day"}), "parameter_invalid", "trial.length", id="trial-zero"),
    pytest.param(_body(code="Not A Slug"), "parameter_invalid", "code", id="bad-code"),
    pytest.param({k: v for k, v in _body().items() if k != "name"}, "parameter_missing", "name", id="name-absent"),
]


@pytest.mark.parametrize(("body", "code", "param"), _INVALID_CREATES)
def test_create_answers_400_naming_the_code_and_param_and_writes_nothing(operator_client, body, code, param):
    before = _counts()

    response = operator_client.post("/api/v1/plans", body, format="json")

    _assert_error(response, 400, code, param)
    assert _counts() == before


def test_create_with_a_code_that_exists_answers_409_plan_exists(operator_client):
    PlanFactory(code="monthly-hd")
    before = _counts()

    response = operator_client.post("/api/v1/plans", _body(code="monthly-hd"), format="json")

    _assert_error(response, 409, "plan_exists", "code")
    assert _counts() == before


def test_create_with_a_body_that_is_not_json_answers_400(operator_client):
    before = _counts()

    response = operator_client.post("/api/v1/plans", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert _counts() == before


def test_a_plan_is_priced_tax_inclusive_unless_it_says_exclusive(operator_client):
    def create(code, **extra):
        body = {"code": code, "name": code, "kind": "recurring", "interval": "month", "prices": [], **extra}
        return operator_client.post(
            "/api/v1/plans", {**body, "prices": [{"amount": "10.00", "currency": "EUR"}]}, format="json"
        )

    assert create("incl").json()["tax_behavior"] == "inclusive"
    assert create("excl", tax_behavior="exclusive").json()["tax_behavior"] == "exclusive"
    bad = create("odd", tax_behavior="sometimes")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tax_behavior"


def test_a_plan_sells_digital_services_unless_it_says_broadcasting(operator_client):
    def create(code, **extra):
        body = {"code": code, "name": code, "kind": "recurring", "interval": "month", **extra}
        return operator_client.post(
            "/api/v1/plans", {**body, "prices": [{"amount": "10.00", "currency": "EUR"}]}, format="json"
        )

    assert create("vod").json()["tax_category"] == "digital_services"
    assert create("linear", tax_category="broadcasting").json()["tax_category"] == "broadcasting"
    bad = create("odd", tax_category="food")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tax_category"
