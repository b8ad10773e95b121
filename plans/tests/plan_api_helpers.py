"""Helpers shared by the plan route tests (plans/tests/test_api_plans_*.py): the fields of the plan
object, request bodies for POST /api/v1/plans, the rows a refused request must not write, and
`_assert_error`, which checks the error body of API.md."""

from integrations.models import Event
from plans.models import Plan, PlanPrice

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
    "tax_behavior",
    "tax_category",
    "status",
}


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
