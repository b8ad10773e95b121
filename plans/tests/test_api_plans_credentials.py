"""The credentials of the plan routes: a customer token on an operator route and an operator key on
/api/v1/me/plans answer 403, no credential answers 401, and nothing is written."""

import pytest

from plans.models import Plan
from plans.tests.factories import PlanFactory
from plans.tests.plan_api_helpers import _body, _counts

pytestmark = pytest.mark.django_db


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
