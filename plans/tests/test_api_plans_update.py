"""PATCH /api/v1/plans/{id} and POST /api/v1/plans/{id}/archive: what a patch changes and leaves
alone, new prices retiring the old rows, the refusals (invalid price, structural terms of a plan
in use, a taken code, the status), and archiving once or twice."""

import pytest

from integrations.models import Event
from plans.models import Plan, PlanPrice
from plans.services import Trial, plan_update
from plans.tests.factories import PlanFactory, plan_in_use
from plans.tests.plan_api_helpers import _assert_error, _by_currency, _counts

pytestmark = pytest.mark.django_db


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


def test_tax_behavior_changes_only_while_nobody_uses_the_plan(operator_client):
    """What a subscriber pays must not change under them: inclusive to exclusive adds the tax."""
    unused, used = PlanFactory(code="unused"), PlanFactory(code="used")
    plan_in_use(used)

    changed = operator_client.patch(f"/api/v1/plans/{unused.id}", {"tax_behavior": "exclusive"}, format="json")
    refused = operator_client.patch(f"/api/v1/plans/{used.id}", {"tax_behavior": "exclusive"}, format="json")

    assert changed.status_code == 200 and changed.json()["tax_behavior"] == "exclusive"
    _assert_error(refused, 422, "plan_in_use", "tax_behavior")
    assert Plan.objects.get(pk=used.pk).tax_behavior == "inclusive"


def test_tax_category_changes_only_while_nobody_uses_the_plan(operator_client):
    """A category's rate may differ from the standard one: it is a billing term like the behaviour."""
    unused, used = PlanFactory(code="unused"), PlanFactory(code="used")
    plan_in_use(used)

    changed = operator_client.patch(f"/api/v1/plans/{unused.id}", {"tax_category": "broadcasting"}, format="json")
    refused = operator_client.patch(f"/api/v1/plans/{used.id}", {"tax_category": "broadcasting"}, format="json")

    assert changed.status_code == 200 and changed.json()["tax_category"] == "broadcasting"
    _assert_error(refused, 422, "plan_in_use", "tax_category")
    assert Plan.objects.get(pk=used.pk).tax_category == "digital_services"
