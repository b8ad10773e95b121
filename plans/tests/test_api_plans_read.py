"""GET /api/v1/plans and GET /api/v1/plans/{id}: the plan object with its current prices, 404 for an
unknown plan, and the list with its filters and pagination."""

import pytest

from plans.services import plan_archive, plan_update
from plans.tests.factories import PlanFactory
from plans.tests.plan_api_helpers import _assert_error

pytestmark = pytest.mark.django_db


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
