"""Bad input never reaches the database as a 5xx: every route of the URL conf, each method it
allows, with an operator API key and with a customer token, is sent hostile values — deep nesting,
integers past their columns, huge strings, NUL, invalid UTF-8, wrong types, garbage and tampered
cursors, garbage filters, garbage ids — and answers 4xx with the API's error object, writing nothing.

Routes are discovered from `get_resolver()` (a new route is covered without a line here); bodies
per field come from the route's request schema in the served OpenAPI document, with targeted
values for the fields the audit found (interval_count, trials, periods, duration_cycles, ...).
"""

import json
import re
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from moneyed import Money

from coupons.services import coupon_create
from coupons.services.generation import codes_generate_enqueue
from integrations.models import Event
from integrations.webhooks.services import webhook_endpoint_create
from payments.gateways.sandbox.gateway import sandbox_tokenize
from payments.models import Payment
from payments.services import customer_token_create, gateway_account_create, payment_refund
from payments.tests.factories import sandbox_account, sandbox_card
from payments.tests.tax_helpers import registration, shipped_rates_loaded
from plans.notifications import pay_link
from plans.services import checkout
from plans.tests.factories import PlanFactory
from tests.hostile_corpus import (
    GARBAGE_CURSORS,
    GARBAGE_IDS,
    RAW_BODIES,
    TARGETED,
    field_values,
    query_values,
)

pytestmark = pytest.mark.django_db

# Routes left out, and why. Everything else the URL conf has is covered.
SKIPPED = {
    "admin/": "the Django admin: staff sessions and CSRF-protected forms, covered by the admin test modules",
    "api/schema/": "the OpenAPI document: no input; tests/test_schemathesis.py drives the API from it",
    "api/docs/": "Swagger UI: a static page with no input",
}
# Hosted pages answer HTML: a page must never 5xx nor write, and answers 4xx to a garbage id, but
# may show itself (200) to a garbage query it ignores.
PAGES = {"sandbox/v1/challenge/<str:charge_id>"}  # and every route outside these:
JSON_PREFIXES = ("api/", "sandbox/", "webhooks/")
FUNCTION_VIEW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Query parameters of routes outside the OpenAPI document.
PAGE_QUERY = {"billing/pay/<str:token>": ["payment"]}
# Tables a refused request may still touch: the API key's last-used stamp.
WRITES_ALLOWED = ("integrations_apikey",)


@dataclass(frozen=True)
class Route:
    pattern: str  # as in the URL conf: "api/v1/customers/<str:customer_id>"
    methods: tuple[str, ...]
    audience: str  # "operator", "customer" or "any" (no credential needed: sandbox, webhooks, pages)

    @property
    def params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.pattern)

    @property
    def is_page(self) -> bool:
        return self.pattern in PAGES or not self.pattern.startswith(JSON_PREFIXES)

    @property
    def schema_path(self) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.pattern)

    def path(self, **values: str) -> str:
        def fill(match):
            return quote(values[match.group(1)], safe="")

        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, self.pattern)


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _route(pattern: str, callback) -> Route:
    cls = getattr(callback, "cls", None)
    if cls is None:  # a function view: its own decorators answer 405 to the methods it refuses
        return Route(pattern, FUNCTION_VIEW_METHODS, "any")
    methods = tuple(
        m.upper() for m in ("get", "post", "put", "patch", "delete") if m in cls.http_method_names and hasattr(cls, m)
    )
    audience = getattr(cls, "audience", "operator") if cls.permission_classes else "any"
    return Route(pattern, methods, audience)


def discover_routes() -> tuple[list[Route], dict[str, str]]:
    routes, skipped = [], {}
    for pattern, callback in _walk(get_resolver().url_patterns):
        reason = next((why for prefix, why in SKIPPED.items() if pattern.startswith(prefix)), None)
        if reason:
            skipped[pattern] = reason
            continue
        routes.append(_route(pattern, callback))
    return routes, skipped


ROUTES, SKIPPED_ROUTES = discover_routes()
SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
CASES = [(route, method) for route in ROUTES for method in route.methods]


def _ref(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _ref(schema["allOf"][0])
    return schema


def _operation(route: Route, method: str) -> dict | None:
    return SCHEMA["paths"].get(route.schema_path, {}).get(method.lower())


def _body_fields(route: Route, method: str) -> dict[str, dict]:
    """The request body's top-level fields and their schemas, from the OpenAPI document."""
    if route.pattern in NON_SCHEMA_BODIES:
        return NON_SCHEMA_BODIES[route.pattern]
    operation = _operation(route, method)
    if not operation or "requestBody" not in operation:
        return {}
    content = operation["requestBody"]["content"].get("application/json")
    if not content:
        return {}
    return {name: _ref(field) for name, field in _ref(content["schema"]).get("properties", {}).items()}


def _query_params(route: Route, method: str) -> dict[str, dict]:
    if route.pattern in PAGE_QUERY:
        return {name: {"type": "string"} for name in PAGE_QUERY[route.pattern]}
    operation = _operation(route, method) or {}
    return {p["name"]: p.get("schema", {}) for p in operation.get("parameters", []) if p["in"] == "query"}


# The sandbox's tokenize route is left out of the OpenAPI document (it stands in for a gateway's form).
NON_SCHEMA_BODIES = {
    "sandbox/v1/tokens": {"publishable_key": {"type": "string", "maxLength": 64}, "card": {"type": "object"}},
}


# --- The world: one of every object, so that a real id reaches the validation behind it -------------


@dataclass
class World:
    ids: dict[str, str]
    bodies: dict[tuple[str, str], dict]
    operator: dict
    customer: dict


@pytest.fixture
def world(customer, api_key) -> World:
    sandbox = sandbox_account()
    card = sandbox_card(customer=customer, account=sandbox)
    plan = PlanFactory(code="hostile-monthly", prices=[{"amount": "9.99", "currency": "EUR"}])
    other = PlanFactory(code="hostile-premium", prices=[{"amount": "19.99", "currency": "EUR"}])
    PlanFactory(code="hostile-third", prices=[{"amount": "4.99", "currency": "EUR"}])
    bought = checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id)
    day_pass = PlanFactory(
        code="hostile-pass",
        kind="one_off",
        interval=None,
        access_days=2,
        prices=[{"amount": "2.99", "currency": "EUR"}],
    )
    secure_card = sandbox_card(customer=customer, account=sandbox, number="4000002760003184")
    pending = checkout(
        customer=customer, plan_id=day_pass.id, payment_method_id=secure_card.id, return_url="https://app.example.com/b"
    )
    assert pending.payment.status == Payment.Status.REQUIRES_ACTION
    bulk = coupon_create(
        name="Bulk", kind="bulk", code_template="HOST-********", discount={"type": "percent", "percent_off": "10"}
    )
    coupon_create(
        name="Account", kind="single_code", code="ACCOUNT10", redemption_target="account",
        discount={"type": "percent", "percent_off": "10"},
    )  # fmt: skip
    stripe = gateway_account_create(
        provider="stripe",
        display_name="Stripe",
        credentials={"secret_key": "sk_test_x", "publishable_key": "pk_test_x", "webhook_secret": "whsec_test"},
        active=False,
    )
    publishable_key = sandbox.credentials["publishable_key"]
    fresh = sandbox_tokenize(
        publishable_key=publishable_key, number="4242424242424242", exp_month=12, exp_year=2034, cvc="123"
    )
    raw_token, _ = customer_token_create(customer=customer)
    shipped_rates_loaded()
    tax_registration = registration(country="FR", scheme="domestic", number="FR40303265045")
    ids = {
        "customer_id": customer.id,
        "plan_id": other.id,
        "subscription_id": bought.subscription.id,
        "payment_id": bought.payment.id,
        "invoice_id": bought.invoice.id,
        "credit_note_id": payment_refund(payment=bought.payment, amount=Money("1.00", "EUR")).credit_note.id,
        "payment_method_id": card.id,
        "coupon_id": bulk.id,
        "gateway_account_id": stripe.id,
        "charge_id": pending.payment.gateway_reference,
        "generation_id": codes_generate_enqueue(coupon=bulk, count=20).public_id,
        "token": pay_link(bought.invoice).rsplit("/", 1)[1],
        "registration_id": tax_registration.id,
        # An IP literal: no DNS lookup from a test.
        "endpoint_id": webhook_endpoint_create(url="https://93.184.216.34/hooks")[1].id,
        "event_id": Event.objects.order_by("-created_at").values_list("id", flat=True).first(),
    }
    return_url = "https://app.example.com/done"
    bodies = {
        ("api/v1/customers", "POST"): {"external_id": "hostile-1", "email": "h@example.com", "country": "DE"},
        ("api/v1/customers/<str:customer_id>", "PATCH"): {"name": "Renamed"},
        ("api/v1/customers/<str:customer_id>/tokens", "POST"): {"ttl_seconds": 600},
        ("api/v1/payments/<str:payment_id>/refunds", "POST"): {"amount": {"amount": "1.00", "currency": "EUR"}},
        ("api/v1/plans", "POST"): {
            "code": "hostile-new",
            "name": "New",
            "kind": "recurring",
            "interval": "month",
            "interval_count": 1,
            "prices": [{"amount": "9.99", "currency": "EUR"}],
        },
        ("api/v1/plans/<str:plan_id>", "PATCH"): {"name": "Renamed"},
        ("api/v1/me/payment-methods", "POST"): {"gateway": sandbox.id, "token": fresh.token},
        ("api/v1/me/checkout", "POST"): {"plan": other.id, "payment_method": card.id, "return_url": return_url},
        ("api/v1/subscriptions", "POST"): {"customer": customer.id, "plan": other.id, "payment_method": card.id},
        ("api/v1/subscriptions/<str:subscription_id>/cancel", "POST"): {"at_period_end": True, "reason": "why"},
        ("api/v1/subscriptions/<str:subscription_id>/extend", "POST"): {"days": 3},
        ("api/v1/me/subscriptions/<str:subscription_id>/cancel", "POST"): {"at_period_end": True},
        ("api/v1/me/subscriptions/<str:subscription_id>/change-plan", "POST"): {
            "plan": other.id,
            "return_url": return_url,
        },
        ("api/v1/me/coupons/validate", "POST"): {"code": "ACCOUNT10", "plan": other.id},
        ("api/v1/me/coupons/redeem", "POST"): {"code": "ACCOUNT10"},
        ("api/v1/coupons", "POST"): {
            "name": "New",
            "kind": "single_code",
            "code": "HOSTILE1",
            "discount": {"type": "percent", "percent_off": "10"},
            "duration": "repeating",
            "duration_cycles": 3,
            "max_redemptions": 10,
            "max_redemptions_per_customer": 1,
            "applies_to_plans": [other.id],
            "redemption_target": "subscription",
            "redeem_by": "2030-01-01T00:00:00Z",
        },
        ("api/v1/coupons/<str:coupon_id>", "PATCH"): {"name": "Renamed"},
        ("api/v1/coupons/<str:coupon_id>/restore", "POST"): {"redeem_by": "2030-01-01T00:00:00Z"},
        ("api/v1/coupons/<str:coupon_id>/codes", "POST"): {"count": 5},
        ("api/v1/tax/registrations", "POST"): {
            "country": "DE",
            "scheme": "domestic",
            "number": "DE123456789",
            "active_from": "2026-01-01",
        },
        ("api/v1/tax/registrations/<str:registration_id>", "PATCH"): {"number": "FR40303265045"},
        ("api/v1/webhook-endpoints", "POST"): {"url": "https://93.184.216.34/hooks", "enabled_events": ["*"]},
        ("api/v1/webhook-endpoints/<str:endpoint_id>", "PATCH"): {"description": "Renamed"},
        ("api/v1/events/<str:event_id>/redeliver", "POST"): {},
        ("sandbox/v1/tokens", "POST"): {
            "publishable_key": publishable_key,
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        },
    }
    return World(
        ids=ids,
        bodies=bodies,
        operator={"HTTP_AUTHORIZATION": f"Bearer {api_key}"},
        customer={"HTTP_AUTHORIZATION": f"Bearer {raw_token}"},
    )


# --- The corpus ----------------------------------------------------------------------------------

# --- Sending and checking ------------------------------------------------------------------------


@dataclass
class Request:
    label: str
    method: str
    path: str
    body: bytes | None = None
    query: str = ""
    headers: dict | None = None
    content_type: str = "application/json"
    code: str | None = None  # the error code it must answer, where one is fixed (API.md)


def _writes(queries) -> list[str]:
    statements = []
    for query in queries:
        sql = query["sql"].lstrip().upper()
        if sql.startswith(("INSERT", "UPDATE", "DELETE", "COPY")) and not any(
            table.upper() in sql[:80] for table in WRITES_ALLOWED
        ):
            statements.append(query["sql"][:200])
    return statements


def _assert_error_object(response, label: str) -> None:
    assert response["Content-Type"].startswith("application/json"), (label, response["Content-Type"])
    body = json.loads(response.content)
    assert list(body) == ["error"], (label, body)
    error = body["error"]
    assert set(error) == {"type", "code", "message", "param"}, (label, error)
    assert error["type"] == "invalid_request_error" or response.status_code in (401, 403, 429), (label, error)
    assert isinstance(error["code"], str) and error["code"], (label, error)
    assert error["param"] is None or isinstance(error["param"], str), (label, error)


def send(client: Client, route: Route, request: Request, credential: dict):
    url = request.path + (f"?{request.query}" if request.query else "")
    extra = {**credential, **(request.headers or {})}
    with CaptureQueriesContext(connection) as queries:
        response = client.generic(
            request.method, url, data=request.body or b"", content_type=request.content_type, **extra
        )
    label = f"{request.method} {url[:120]!r} [{request.label}]"
    assert response.status_code < 500, (label, response.status_code, response.content[:300])
    assert not _writes(queries.captured_queries), (label, response.status_code, _writes(queries.captured_queries))
    if route.is_page and response.status_code < 400:
        return response  # a page that ignores the value shows itself
    assert 400 <= response.status_code < 500, (label, response.status_code, response.content[:300])
    if not route.is_page:
        _assert_error_object(response, label)
    if request.code and response.status_code not in (401, 403):
        assert response.json()["error"]["code"] == request.code, (label, response.json())
    return response


def _json(body: dict) -> bytes:
    return json.dumps(body).encode()


def requests_for(route: Route, method: str, world: World, *, full: bool, cursor: str | None) -> list[Request]:
    path = route.path(**world.ids)
    out: list[Request] = []
    # Garbage in each path parameter (the others real).
    for param in route.params:
        for garbage in GARBAGE_IDS if full else GARBAGE_IDS[:2]:
            garbage_path = route.path(**{**world.ids, param: garbage})
            out.append(Request(f"path {param}={garbage[:20]!r}", method, garbage_path, body=b"{}"))
    # Bodies that are not JSON, or JSON no request should carry.
    for label, raw in RAW_BODIES.items() if full else list(RAW_BODIES.items())[:2]:
        if method == "GET" and label == "over the size limit":
            continue
        out.append(Request(f"body: {label}", method, path, body=raw))
    # Each query parameter the route reads, garbage in turn.
    if method == "GET":
        for name, schema in _query_params(route, method).items():
            if name == "cursor":
                continue
            for value in query_values(name, schema) if full else ["\x00"]:
                query = f"{quote(name)}={value if value == 'a%00b' else quote(value)}"
                out.append(Request(f"query {name}={value[:20]!r}", method, path, query=query))
        if "cursor" in _query_params(route, method):
            cursors = [
                *GARBAGE_CURSORS,
                *([cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]] if cursor else []),
            ]
            for value in cursors if full else cursors[:1]:
                query = f"cursor={quote(value, safe='%')}"
                out.append(Request(f"cursor {value[:20]!r}", method, path, query=query, code="cursor_invalid"))
            if cursor and route.pattern != "api/v1/plans":
                query = f"cursor={quote(cursor)}"
                out.append(Request("a cursor of another list", method, path, query=query, code="cursor_invalid"))
        if "status" in _query_params(route, method):
            out.append(Request("odd encoding in the query", method, path, query="status=%ff%fe&customer=%c0%af"))
    # Each body field hostile in turn, the rest of the body valid.
    base = world.bodies.get((route.pattern, method))
    if base is not None:
        for field, schema in _body_fields(route, method).items():
            for label, value in field_values(schema) if full else field_values(schema)[:1]:
                out.append(Request(f"{field}: {label}", method, path, body=_json({**base, field: value})))
        for override in TARGETED.get((route.pattern, method), []) if full else []:
            label = ", ".join(f"{k}={str(v)[:40]}" for k, v in override.items())
            out.append(Request(label, method, path, body=_json({**base, **override})))
        if method == "POST" and full:
            for key in ("\x00", "k" * 300):
                out.append(
                    Request(
                        f"Idempotency-Key {key[:10]!r}", method, path, body=b"{}", headers={"HTTP_IDEMPOTENCY_KEY": key}
                    )
                )
    return out


@pytest.fixture
def issued_cursor(world, client) -> str:
    """A cursor this server issued, for the plan list (the world has three plans)."""
    response = client.get("/api/v1/plans?limit=1", HTTP_AUTHORIZATION=world.operator["HTTP_AUTHORIZATION"])
    next_url = response.json()["next"]
    return re.search(r"cursor=([^&]+)", next_url).group(1)


@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{method} /{route.pattern}" for route, method in CASES])
def test_hostile_input_answers_4xx_and_writes_nothing(route, method, world, issued_cursor):
    from urllib.parse import unquote

    cursor = unquote(issued_cursor)
    client = Client(enforce_csrf_checks=True)
    for credential_name in ("operator", "customer"):
        credential = getattr(world, credential_name)
        right = route.audience in ("any", credential_name)
        for request in requests_for(route, method, world, full=right, cursor=cursor):
            send(client, route, request, credential)


def test_every_route_is_covered_or_skipped_for_a_stated_reason():
    patterns = {route.pattern for route in ROUTES}

    assert {"api/v1/customers", "api/v1/me/checkout", "sandbox/v1/tokens", "billing/pay/<str:token>"} <= patterns
    assert any(p.startswith("webhooks/") for p in patterns)
    assert all(any(p.startswith(prefix) for prefix in SKIPPED) for p in SKIPPED_ROUTES)


def test_every_integer_a_request_body_takes_is_bounded_in_the_schema():
    """An integer without a maximum is one the database may refuse as an overflow. Every request
    component (COMPONENT_SPLIT_REQUEST names them ...Request), nested ones included."""
    unbounded = []
    requests = {name: body for name, body in SCHEMA["components"]["schemas"].items() if name.endswith("Request")}
    assert "PlanWriteRequest" in requests and "TrialRequest" in requests
    for name, body in requests.items():
        for field, schema in _ref(body).get("properties", {}).items():
            schema = _ref(schema)
            if schema.get("type") == "integer" and ("maximum" not in schema or "minimum" not in schema):
                unbounded.append(f"{name}.{field}")

    assert unbounded == []
