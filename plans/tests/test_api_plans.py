"""The plan routes of API.md: /api/v1/plans for operators, /api/v1/me/plans for customers."""

import re

import pytest
from rest_framework.test import APIClient

from conftest import client_for_customer
from integrations.models import Event
from payments.tests.factories import CustomerFactory
from plans.models import Plan, PlanPrice
from plans.services import Trial, plan_archive, plan_update
from plans.tests.factories import PlanFactory, plan_in_use

pytestmark = pytest.mark.django_db

PLAN_FIELDS = {
    "id",
    "code",
    "name",
    "description",
    "kind",
    "interval",
    "interval_count",
    "billing_cycles",
    "access_days",
    "trial",
    "status",
}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _body(**overrides):
    body = {
        "code": "monthly-hd",
        "name": "Monthly HD",
        "kind": "recurring",
        "interval": "month",
        "prices": [{"amount": "9.99", "currency": "EUR"}],
    }
    body.update(overrides)
    return body


def _one_off_body(**overrides):
    return _body(**{"code": "pass-48h", "kind": "one_off", "interval": None, "access_days": 2, **overrides})


def _counts():
    return Plan.objects.count(), PlanPrice.objects.count(), Event.objects.count()


def _by_currency(prices):
    return sorted(prices, key=lambda price: price["currency"])


def _assert_error(response, status, code, param):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["type"] == "invalid_request_error"
    assert (error["code"], error["param"]) == (code, param)
    assert isinstance(error["message"], str) and error["message"]


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
        "prices": [{"amount": "9.99", "currency": "EUR"}, {"amount": "1500", "currency": "JPY"}],
        "status": "active",
    }
    assert body["id"].startswith("pln_")


def test_create_answers_only_the_contract_fields_and_timestamps(operator_client):
    body = operator_client.post("/api/v1/plans", _body(), format="json").json()

    assert set(body) == PLAN_FIELDS | {"prices", "created_at", "updated_at"}
    assert ISO_UTC.match(body["created_at"]) and ISO_UTC.match(body["updated_at"])


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


# GET /api/v1/plans, GET /api/v1/plans/{id}


def test_read_answers_the_plan_object(operator_client):
    plan = PlanFactory(code="annual", interval="year", prices=[{"amount": "99.00", "currency": "EUR"}])

    response = operator_client.get(f"/api/v1/plans/{plan.id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["code"], body["interval"], body["prices"]) == (
        plan.id,
        "annual",
        "year",
        [{"amount": "99.00", "currency": "EUR"}],
    )


def test_read_shows_only_current_prices(operator_client):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}])
    plan_update(plan=plan, prices=[{"amount": "12.00", "currency": "EUR"}])

    body = operator_client.get(f"/api/v1/plans/{plan.id}").json()

    assert body["prices"] == [{"amount": "12.00", "currency": "EUR"}]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/plans/pln_doesnotexist"),
        ("patch", "/api/v1/plans/pln_doesnotexist"),
        ("post", "/api/v1/plans/pln_doesnotexist/archive"),
    ],
)
def test_an_unknown_plan_answers_404(operator_client, method, path):
    response = getattr(operator_client, method)(path, {"name": "x"} if method == "patch" else None, format="json")

    _assert_error(response, 404, "resource_missing", None)


def test_list_answers_results_and_next(operator_client):
    first, second = PlanFactory(), PlanFactory()

    response = operator_client.get("/api/v1/plans")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next"}
    assert body["next"] is None
    assert {plan["id"] for plan in body["results"]} == {first.id, second.id}
    assert all(plan["prices"] for plan in body["results"])


def test_list_filters_by_status(operator_client):
    active, archived = PlanFactory(), PlanFactory()
    plan_archive(plan=archived)

    archived_ids = [p["id"] for p in operator_client.get("/api/v1/plans?status=archived").json()["results"]]
    active_ids = [p["id"] for p in operator_client.get("/api/v1/plans?status=active").json()["results"]]

    assert archived_ids == [archived.id]
    assert active_ids == [active.id]


def test_list_filters_by_kind(operator_client):
    recurring = PlanFactory()
    one_off = PlanFactory(kind="one_off", interval=None, access_days=2)

    one_off_ids = [p["id"] for p in operator_client.get("/api/v1/plans?kind=one_off").json()["results"]]
    recurring_ids = [p["id"] for p in operator_client.get("/api/v1/plans?kind=recurring").json()["results"]]

    assert one_off_ids == [one_off.id]
    assert recurring_ids == [recurring.id]


def test_list_filters_by_code(operator_client):
    PlanFactory(code="monthly")
    wanted = PlanFactory(code="annual", interval="year")

    results = operator_client.get("/api/v1/plans?code=annual").json()["results"]

    assert [p["id"] for p in results] == [wanted.id]


def test_list_pages_with_a_next_link(operator_client):
    plans = [PlanFactory() for _ in range(3)]

    first = operator_client.get("/api/v1/plans?limit=2").json()
    second = operator_client.get(first["next"]).json()

    assert len(first["results"]) == 2
    assert second["next"] is None
    assert {p["id"] for p in first["results"] + second["results"]} == {plan.id for plan in plans}


# PATCH /api/v1/plans/{id}


def test_patch_changes_the_name_and_answers_the_plan(operator_client):
    plan = PlanFactory(name="Old")

    response = operator_client.patch(f"/api/v1/plans/{plan.id}", {"name": "New"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "New"
    assert Plan.objects.get(pk=plan.pk).name == "New"


def test_patch_leaves_the_fields_it_does_not_name_alone(operator_client):
    plan = PlanFactory(interval="year", interval_count=2, billing_cycles=3)
    plan_update(plan=plan, trial=Trial(7, "day"))

    body = operator_client.patch(f"/api/v1/plans/{plan.id}", {"name": "New"}, format="json").json()

    assert (body["interval"], body["interval_count"], body["billing_cycles"]) == ("year", 2, 3)
    assert body["trial"] == {"length": 7, "unit": "day", "requires_payment_method": True}
    assert _by_currency(body["prices"]) == [
        {"amount": "9.99", "currency": "EUR"},
        {"amount": "1000", "currency": "JPY"},
    ]


def test_patch_with_new_prices_keeps_the_old_price_row_retired(operator_client):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])

    response = operator_client.patch(
        f"/api/v1/plans/{plan.id}", {"prices": [{"amount": "12.5", "currency": "EUR"}]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["prices"] == [{"amount": "12.50", "currency": "EUR"}]
    rows = sorted((str(p.amount.amount), p.is_current) for p in PlanPrice.objects.filter(plan=plan))
    assert rows == [("12.5000", True), ("9.9900", False)]


def test_patch_with_an_invalid_price_answers_400_and_changes_nothing(operator_client):
    plan = PlanFactory(name="Old", prices=[{"amount": "9.99", "currency": "EUR"}])
    before = _counts()

    response = operator_client.patch(
        f"/api/v1/plans/{plan.id}",
        {"name": "New", "prices": [{"amount": "9.99", "currency": "EUR"}, {"amount": "1.5", "currency": "JPY"}]},
        format="json",
    )

    _assert_error(response, 400, "amount_too_precise", "prices[1].amount")
    assert _counts() == before
    assert Plan.objects.get(pk=plan.pk).name == "Old"


def test_patch_of_structural_terms_of_a_plan_in_use_answers_422_plan_in_use(operator_client):
    plan = PlanFactory(interval="month")
    plan_in_use(plan)
    before = _counts()

    response = operator_client.patch(f"/api/v1/plans/{plan.id}", {"interval": "year"}, format="json")

    _assert_error(response, 422, "plan_in_use", "interval")
    assert _counts() == before
    assert Plan.objects.get(pk=plan.pk).interval == "month"


def test_patch_of_structural_terms_of_a_plan_nobody_uses_answers_200(operator_client):
    plan = PlanFactory(interval="month")

    response = operator_client.patch(
        f"/api/v1/plans/{plan.id}", {"interval": "week", "interval_count": 2}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["interval"], response.json()["interval_count"]) == ("week", 2)


def test_patch_with_a_code_another_plan_has_answers_409(operator_client):
    PlanFactory(code="taken")
    plan = PlanFactory(code="mine")

    response = operator_client.patch(f"/api/v1/plans/{plan.id}", {"code": "taken"}, format="json")

    _assert_error(response, 409, "plan_exists", "code")
    assert Plan.objects.get(pk=plan.pk).code == "mine"


def test_patch_cannot_change_the_status(operator_client):
    plan = PlanFactory()

    operator_client.patch(f"/api/v1/plans/{plan.id}", {"status": "archived"}, format="json")

    assert Plan.objects.get(pk=plan.pk).status == "active"


# POST /api/v1/plans/{id}/archive


def test_archive_answers_the_archived_plan(operator_client):
    plan = PlanFactory()

    response = operator_client.post(f"/api/v1/plans/{plan.id}/archive")

    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["status"]) == (plan.id, "archived")
    assert Plan.objects.get(pk=plan.pk).status == "archived"


def test_archive_twice_answers_200_and_writes_one_event(operator_client):
    plan = PlanFactory()

    first = operator_client.post(f"/api/v1/plans/{plan.id}/archive")
    second = operator_client.post(f"/api/v1/plans/{plan.id}/archive")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "archived"
    assert Event.objects.filter(type="plan.archived").count() == 1


# credentials


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/plans"),
        ("post", "/api/v1/plans"),
        ("get", "/api/v1/plans/{id}"),
        ("patch", "/api/v1/plans/{id}"),
        ("post", "/api/v1/plans/{id}/archive"),
    ],
)
def test_a_customer_token_on_an_operator_plan_route_answers_403(customer_client, method, path):
    plan = PlanFactory()
    before = _counts()
    body = _body(code="sneaky") if path == "/api/v1/plans" else {"name": "Sneaky"}

    response = getattr(customer_client, method)(path.format(id=plan.id), body, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
    assert _counts() == before
    assert Plan.objects.get(pk=plan.pk).status == "active"
    assert Plan.objects.get(pk=plan.pk).name != "Sneaky"


def test_an_operator_key_on_me_plans_answers_403(operator_client):
    response = operator_client.get("/api/v1/me/plans")

    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize("path", ["/api/v1/plans", "/api/v1/me/plans"])
def test_no_credential_answers_401(anon_client, path):
    response = anon_client.get(path)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


# GET /api/v1/me/plans


def _monthly(**overrides):
    return PlanFactory(
        **{
            "prices": [
                {"amount": "9.99", "currency": "EUR"},
                {"amount": "1500", "currency": "JPY"},
                {"amount": "3.25", "currency": "KWD"},
            ],
            **overrides,
        }
    )


def test_me_plans_prices_in_the_customer_currency_by_default(customer_client):
    plan = _monthly()

    response = customer_client.get("/api/v1/me/plans")

    assert response.status_code == 200
    [body] = response.json()["results"]
    assert body["id"] == plan.id
    assert body["price"] == {"amount": "9.99", "currency": "EUR"}


def test_me_plans_answers_the_customer_plan_object_with_price_not_prices(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans").json()["results"]

    assert set(body) == PLAN_FIELDS | {"price"}
    assert "prices" not in body


def test_me_plans_default_follows_the_customer_currency_not_a_fixed_one(db):
    _monthly()
    client = client_for_customer(CustomerFactory(country="JP", currency="JPY"))

    [body] = client.get("/api/v1/me/plans").json()["results"]

    assert body["price"] == {"amount": "1500", "currency": "JPY"}


def test_me_plans_for_japan_prices_in_yen_without_decimals(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans?country=JP").json()["results"]

    assert body["price"] == {"amount": "1500", "currency": "JPY"}


def test_me_plans_for_kuwait_prices_in_dinar_with_three_decimals(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans?country=KW").json()["results"]

    assert body["price"] == {"amount": "3.250", "currency": "KWD"}


def test_me_plans_accepts_a_lower_case_country(customer_client):
    _monthly()

    [body] = customer_client.get("/api/v1/me/plans?country=jp").json()["results"]

    assert body["price"]["currency"] == "JPY"


@pytest.mark.parametrize("country", ["XX", "JPN", "1"])
def test_me_plans_for_a_country_that_does_not_exist_answers_400_country_invalid(customer_client, country):
    _monthly()

    response = customer_client.get(f"/api/v1/me/plans?country={country}")

    _assert_error(response, 400, "country_invalid", "country")


def test_me_plans_leaves_out_plans_without_a_price_in_that_currency(customer_client):
    priced = _monthly()
    PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])

    results = customer_client.get("/api/v1/me/plans?country=JP").json()["results"]

    assert [plan["id"] for plan in results] == [priced.id]


def test_me_plans_answers_an_empty_list_for_a_currency_no_plan_has(customer_client):
    _monthly()

    response = customer_client.get("/api/v1/me/plans?country=CH")

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def test_me_plans_leaves_out_archived_plans(customer_client, operator_client):
    kept, archived = _monthly(), _monthly()

    assert operator_client.post(f"/api/v1/plans/{archived.id}/archive").status_code == 200
    results = customer_client.get("/api/v1/me/plans").json()["results"]

    assert [plan["id"] for plan in results] == [kept.id]


def test_me_plans_lists_a_repriced_plan_once_at_its_new_price(customer_client):
    plan = _monthly()
    plan_update(plan=plan, prices=[{"amount": "11.00", "currency": "EUR"}, {"amount": "1500", "currency": "JPY"}])

    results = customer_client.get("/api/v1/me/plans").json()["results"]

    assert [(p["id"], p["price"]) for p in results] == [(plan.id, {"amount": "11.00", "currency": "EUR"})]


def test_me_plans_drops_a_plan_whose_price_in_that_currency_was_removed(customer_client):
    plan = _monthly()
    plan_update(plan=plan, prices=[{"amount": "1500", "currency": "JPY"}])

    assert customer_client.get("/api/v1/me/plans").json()["results"] == []


def test_minted_token_reaches_me_plans_priced_in_the_customers_currency(operator_client):
    customer = CustomerFactory(country="JP", currency="JPY")
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}])
    raw = operator_client.post(f"/api/v1/customers/{customer.id}/tokens", {}, format="json").json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.get("/api/v1/me/plans")

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [plan.id]
    assert response.json()["results"][0]["price"] == {"amount": "1000", "currency": "JPY"}
