"""GET /api/v1/audit-events (API.md "Audit"): the `audit:read` scope, the object's shape, newest
first with signed cursors, and the actor, action, object, from and to filters (garbage is 400)."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from integrations.kernel.api_keys import api_key_create
from integrations.kernel.audit import Actor
from integrations.models import AuditEvent

pytestmark = pytest.mark.django_db
URL = "/api/v1/audit-events"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _client(*scopes) -> APIClient:
    raw, _ = api_key_create(name="auditor", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def log():
    key = Actor("api_key", "key_01abc", "crm")
    rows = [
        AuditEvent(at=T0, actor_type="user", actor_id="7", actor_name="ops", action="plan.updated",
                   object_type="plan", object_id="plan_1", changes={"name": ["a", "b"]}, ip="203.0.113.9",
                   user_agent="Firefox"),
        AuditEvent(at=T0 + timedelta(hours=1), actor_type=key.type, actor_id=key.id, actor_name=key.name,
                   action="refund.created", object_type="refund", object_id="ref_1"),
        AuditEvent(at=T0 + timedelta(days=1), actor_type="system", actor_name="manage.py run_billing",
                   action="billing.batch_billed", object_type="billing_run", object_id="2026-03-02"),
        AuditEvent(at=T0 + timedelta(days=2), actor_type="user", actor_id="8", actor_name="eve",
                   action="staff.sign_in_failed", object_type="user", object_id="8", outcome="refused"),
    ]  # fmt: skip
    AuditEvent.objects.bulk_create(rows)
    return rows


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [event["object"]["id"] for event in response.json()["results"]]


def test_the_log_is_listed_newest_first_in_the_documented_shape(log):
    response = _client("audit:read").get(URL)

    assert _ids(response) == ["8", "2026-03-02", "ref_1", "plan_1"]
    oldest = response.json()["results"][-1]
    assert oldest == {
        "id": log[0].id,
        "at": "2026-03-01T12:00:00Z",
        "actor": {"type": "user", "id": "7", "name": "ops"},
        "action": "plan.updated",
        "object": {"type": "plan", "id": "plan_1"},
        "changes": {"name": ["a", "b"]},
        "ip": "203.0.113.9",
        "user_agent": "Firefox",
        "outcome": "succeeded",
    }
    assert response.json()["results"][1]["actor"] == {"type": "system", "id": None, "name": "manage.py run_billing"}


def test_a_key_without_audit_read_is_refused(log):
    for scopes in (["read"], ["payments:write"]):
        response = _client(*scopes).get(URL)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "insufficient_scope"
    assert _client("all").get(URL).status_code == 200


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("actor=key_01abc", ["ref_1"]),
        ("actor=ops", ["plan_1"]),
        ("actor=8", ["8"]),
        ("actor=system", ["2026-03-02"]),
        ("action=refund.created", ["ref_1"]),
        ("action=staff.*", ["8"]),
        ("object=plan_1", ["plan_1"]),
        ("object=nothing_here", []),
        ("from=2026-03-02", ["8", "2026-03-02"]),
        ("to=2026-03-01", ["ref_1", "plan_1"]),
        ("from=2026-03-01T12:30:00Z&to=2026-03-02T12:00:00%2B00:00", ["ref_1"]),
        ("from=2026-03-01T12:00:00&to=2026-03-01T12:00:01Z", ["plan_1"]),
        ("actor=ops&action=refund.created", []),
    ],
)
def test_filters(log, query, expected):
    assert _ids(_client("audit:read").get(f"{URL}?{query}")) == expected


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "from=2026-02-30",
        "to=2026-13-01T00:00:00Z",
        "from=99999-01-01",
        "from=0001-01-01T00:00:00%2B05:00",
        "to=9999-12-31T23:00:00-05:00",
        "to=2026-03-01T00:00:00%2B25:00",
        "action=Refund Created",
        "action=" + "a" * 101,
        "object=pay%20one",
        "actor=" + "x" * 151,
        "limit=0",
    ],
)
def test_bad_filters_are_400_parameter_invalid_naming_the_parameter(log, query):
    response = _client("audit:read").get(f"{URL}?{query}")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "parameter_invalid"
    assert response.json()["error"]["param"] == query.split("=")[0]


def test_the_end_of_the_calendar_is_a_valid_bound(log):
    assert len(_ids(_client("audit:read").get(f"{URL}?to=9999-12-31"))) == 4


def test_pages_follow_a_signed_cursor(log):
    client = _client("audit:read")
    first = client.get(f"{URL}?limit=3").json()
    second = client.get(first["next"]).json()

    assert [e["object"]["id"] for e in first["results"] + second["results"]] == ["8", "2026-03-02", "ref_1", "plan_1"]
    assert second["next"] is None
    tampered = client.get(first["next"].replace("cursor=", "cursor=A"))
    assert tampered.status_code == 400 and tampered.json()["error"]["code"] == "cursor_invalid"


def test_the_route_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/audit-events"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "actor",
        "action",
        "object",
        "from",
        "to",
        "cursor",
        "limit",
    }
    assert "AuditEvent" in schema["components"]["schemas"]
