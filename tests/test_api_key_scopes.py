"""Scoped API keys (API.md "API key scopes"): `read` opens every GET, each write scope the writes
of its area, `all` everything; a route outside the key's scopes answers 403 `insufficient_scope`
and writes nothing. Checked on every operator route of the URL conf."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from integrations.kernel.api.permissions import required_scope
from integrations.kernel.api_keys import api_key_create
from integrations.models import ApiKey

pytestmark = pytest.mark.django_db
WRITES = ("post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _operator_routes():
    routes = []
    for pattern, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "view_class", None) or getattr(getattr(callback, "cls", None), "__mro__", [None])[0]
        if not pattern.startswith("api/v1/") or view is None or getattr(view, "audience", "operator") != "operator":
            continue
        if getattr(view, "permission_classes", None) == []:
            continue  # the API root: open to anyone
        path = "/" + re.sub(r"<(?:\w+:)?\w+>", "x_1", pattern)
        routes.append((path, view, [m for m in ("get", *WRITES) if hasattr(view, m)]))
    return routes


ROUTES = _operator_routes()
WRITE_CASES = [(path, view, method) for path, view, methods in ROUTES for method in methods if method in WRITES]
READ_CASES = [(path, view) for path, view, methods in ROUTES if "get" in methods]


class _Request:
    def __init__(self, method):
        self.method = method.upper()


def _client(*scopes) -> APIClient:
    raw, _ = api_key_create(name="scoped", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_the_routes_are_found():
    assert len(WRITE_CASES) >= 15 and len(READ_CASES) >= 10


@pytest.mark.parametrize(("path", "view", "method"), WRITE_CASES, ids=[f"{m.upper()} {p}" for p, _, m in WRITE_CASES])
def test_a_read_only_key_is_refused_every_write(path, view, method):
    client = _client("read")

    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(path, {}, format="json")

    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert [sql for sql in _writes(queries) if "integrations_apikey" not in sql] == []


@pytest.mark.parametrize(("path", "view", "method"), WRITE_CASES, ids=[f"{m.upper()} {p}" for p, _, m in WRITE_CASES])
def test_a_key_with_the_routes_write_scope_gets_past_the_scope_check(path, view, method):
    scope = required_scope(_Request(method), view)
    assert scope != "all", f"{view.__name__} names no write_scope"

    response = getattr(_client(scope), method)(path, {}, format="json")

    assert not (response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope")


@pytest.mark.parametrize(("path", "view"), READ_CASES, ids=[p for p, _ in READ_CASES])
def test_reads_need_the_read_scope(path, view):
    scope = required_scope(_Request("get"), view)  # `read`, or the route's own (audit:read)
    refused = _client("customers:write").get(path)
    allowed = _client(scope).get(path)

    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope")
    assert allowed.status_code != 403


def test_a_key_from_before_scopes_can_do_everything(api_key):
    ApiKey.objects.update(scopes=[])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")

    created = client.post(
        "/api/v1/customers", {"external_id": "old-key", "email": "o@example.com", "country": "DE"}, format="json"
    )

    assert created.status_code == 201, created.content


def test_the_command_takes_scopes_repeated_or_comma_separated():
    call_command(
        "create_api_key", "crm", "--scope", "read", "--scope", "customers:write,payments:write", stdout=StringIO()
    )
    call_command("create_api_key", "everything", stdout=StringIO())

    assert ApiKey.objects.get(name="crm").scopes == ["customers:write", "payments:write", "read"]
    assert ApiKey.objects.get(name="everything").scopes == ["all"]
    with pytest.raises(CommandError, match="Unknown scope 'root'"):
        call_command("create_api_key", "bad", "--scope", "root", stdout=StringIO())
    assert not ApiKey.objects.filter(name="bad").exists()


def test_the_admin_gives_a_new_key_its_scopes(admin_client):
    response = admin_client.post("/admin/integrations/apikey/add/", {"name": "Support desk", "scopes": ["read"]})

    assert response.status_code == 302
    assert ApiKey.objects.get(name="Support desk").scopes == ["read"]
