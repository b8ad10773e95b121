"""The limits bad input meets before the database: JSON nesting, NUL, signed cursors and `limit`,
integers bounded by their columns, periods that end before the year 9999, validated filters.
Each answers 400 (404 for an id in the path) with the error object naming the field; each of these
answered 500, or silently did something else, on the first release."""

import base64
from datetime import UTC, datetime

import pytest
from django.test import Client

from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card, succeeded_payment
from plans.models import Plan, Subscription
from plans.services import checkout
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

PLANS = "/api/v1/plans"
COUPONS = "/api/v1/coupons"
PLAN = {
    "code": "monthly",
    "name": "Monthly",
    "kind": "recurring",
    "interval": "month",
    "prices": [{"amount": "9.99", "currency": "EUR"}],
}
COUPON = {
    "name": "Spring",
    "kind": "single_code",
    "code": "SPRING",
    "discount": {"type": "percent", "percent_off": "10"},
}


def error(response, status: int, code: str, param: str | None = "-") -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"type", "code", "message", "param"}
    assert body["error"]["code"] == code, body
    if param != "-":
        assert body["error"]["param"] == param, body
    return body["error"]


def post_raw(client, path: str, body: bytes, **headers):
    return client.generic("POST", path, body, content_type="application/json", **headers)


# --- JSON bodies


def test_a_body_nested_past_pythons_recursion_limit_answers_400_invalid_json(operator_client):
    response = post_raw(operator_client, PLANS, b"[" * 100_000 + b"]" * 100_000)

    error(response, 400, "invalid_json", None)


def test_a_body_nested_33_deep_answers_400_invalid_json_and_32_deep_is_read(operator_client):
    def nested(depth: int) -> dict:
        value: object = "x"
        for _ in range(depth - 1):
            value = {"a": value}
        return {**PLAN, "description": value}

    too_deep = operator_client.post(PLANS, nested(33), format="json")
    deep_enough = operator_client.post(PLANS, nested(32), format="json")

    error(too_deep, 400, "invalid_json", None)
    error(deep_enough, 400, "parameter_invalid", "description")  # read, and refused for what it is


def test_a_malformed_body_on_a_route_that_reads_none_changes_nothing(operator_client):
    plan = PlanFactory()

    response = post_raw(operator_client, f"{PLANS}/{plan.id}/archive", b'{"a": ' * 40 + b"1" + b"}" * 40)

    error(response, 400, "invalid_json", None)
    plan.refresh_from_db()
    assert plan.status == Plan.Status.ACTIVE


def test_a_nul_anywhere_in_a_body_answers_400_naming_where(operator_client):
    body = {**PLAN, "prices": [{"amount": "9.99", "currency": "EUR", "note": "a\x00b"}]}

    response = operator_client.post(PLANS, body, format="json")

    error(response, 400, "parameter_invalid", "prices[0].note")
    assert not Plan.objects.exists()


def test_a_lone_surrogate_in_a_key_answers_400(operator_client):
    response = post_raw(operator_client, PLANS, b'{"\\ud800": 1}')

    error(response, 400, "parameter_invalid")


def test_an_idempotency_key_holding_a_nul_answers_400(operator_client):
    response = operator_client.post(PLANS, PLAN, format="json", HTTP_IDEMPOTENCY_KEY="key-\x00")

    error(response, 400, "idempotency_key_invalid", "Idempotency-Key")
    assert not Plan.objects.exists()


# --- cursors and limit


def _next_cursor(client, path: str) -> str:
    next_url = client.get(f"{path}?limit=1").json()["next"]
    assert next_url
    return next_url.split("cursor=", 1)[1].split("&")[0]


def _forged(querystring: str) -> str:
    """A cursor as DRF encodes one unsigned: what any client can make."""
    return base64.b64encode(querystring.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    ["%25%25%25", "", "garbage", _forged("p=99999-01-01"), _forged("p=garbage"), _forged("o=99999999999")],
    ids=["percent signs", "empty", "garbage", "out of range position", "garbage position", "huge offset"],
)
def test_a_cursor_this_server_did_not_issue_answers_400_cursor_invalid(operator_client, cursor):
    PlanFactory(), PlanFactory()

    response = operator_client.get(f"{PLANS}?cursor={cursor}")

    error(response, 400, "cursor_invalid", "cursor")


def test_an_altered_cursor_answers_400_cursor_invalid(operator_client):
    PlanFactory(), PlanFactory()
    cursor = _next_cursor(operator_client, PLANS)
    altered = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]

    error(operator_client.get(f"{PLANS}?cursor={altered}"), 400, "cursor_invalid", "cursor")


def test_a_cursor_of_another_list_answers_400_cursor_invalid(operator_client, customer):
    PlanFactory(), PlanFactory()
    cursor = _next_cursor(operator_client, PLANS)

    error(operator_client.get(f"/api/v1/customers?cursor={cursor}"), 400, "cursor_invalid", "cursor")


def test_an_issued_cursor_pages_through_every_plan_once(operator_client):
    made = {PlanFactory().id for _ in range(3)}

    seen, url = [], f"{PLANS}?limit=2"
    while url:
        body = operator_client.get(url).json()
        seen += [plan["id"] for plan in body["results"]]
        url = body["next"]

    assert sorted(seen) == sorted(made)


@pytest.mark.parametrize("limit", ["0", "-1", "101", "abc", "1.5", str(10**30)])
def test_a_limit_that_is_not_1_to_100_answers_400_naming_limit(operator_client, limit):
    error(operator_client.get(f"{PLANS}?limit={limit}"), 400, "parameter_invalid", "limit")


# --- integers bounded by their columns, dates before the year 9999


@pytest.mark.parametrize(
    ("terms", "param"),
    [
        ({"interval_count": 40_000}, "interval_count"),
        ({"interval_count": 10**30}, "interval_count"),
        ({"interval": "day", "interval_count": 3_000_000}, "interval_count"),
        ({"interval": "year", "interval_count": 9_000}, "interval_count"),
        ({"billing_cycles": 10**12}, "billing_cycles"),
        ({"trial": {"length": 2**40, "unit": "day"}}, "trial.length"),
        ({"trial": {"length": 32_000, "unit": "month"}, "interval": "year", "interval_count": 7_000}, "interval_count"),
        ({"kind": "one_off", "interval": None, "access_days": 3_000_000}, "access_days"),
        ({"kind": "one_off", "interval": None, "access_days": 2**31}, "access_days"),
    ],
    ids=[
        "interval_count past smallint",
        "interval_count 10**30",
        "3,000,000 days",
        "9,000 years",
        "billing_cycles past integer",
        "a trial of 2**40 days",
        "a trial and a period past 9999",
        "a pass of 3,000,000 days",
        "a pass past integer",
    ],
)
def test_plan_terms_past_their_column_or_the_year_9999_answer_400_naming_the_field(operator_client, terms, param):
    response = operator_client.post(PLANS, {**PLAN, **terms}, format="json")

    error(response, 400, "parameter_invalid", param)
    assert not Plan.objects.exists()


def test_a_plan_edit_past_the_year_9999_answers_400(operator_client):
    plan = PlanFactory(interval="year")

    response = operator_client.patch(f"{PLANS}/{plan.id}", {"interval_count": 9_000}, format="json")

    error(response, 400, "parameter_invalid", "interval_count")


@pytest.mark.parametrize(("trial", "param"), [({}, "trial.length"), ({"length": 7}, "trial.unit")])
def test_a_plan_edit_with_half_a_trial_answers_400_naming_what_is_missing(operator_client, trial, param):
    plan = PlanFactory()

    response = operator_client.patch(f"{PLANS}/{plan.id}", {"trial": trial}, format="json")

    error(response, 400, "parameter_missing", param)  # found by schemathesis: a TypeError, 500


@pytest.mark.parametrize(
    ("terms", "param"),
    [
        ({"duration": "repeating", "duration_cycles": 10**12}, "duration_cycles"),
        ({"duration": "repeating", "duration_cycles": 40_000}, "duration_cycles"),
        ({"max_redemptions": 2**31}, "max_redemptions"),
        ({"max_redemptions_per_customer": 2**63}, "max_redemptions_per_customer"),
    ],
)
def test_coupon_integers_past_their_column_answer_400_naming_the_field(operator_client, terms, param):
    response = operator_client.post(COUPONS, {**COUPON, **terms}, format="json")

    error(response, 400, "parameter_invalid", param)


def test_a_coupon_edit_past_its_column_answers_400(operator_client):
    coupon = operator_client.post(COUPONS, COUPON, format="json").json()

    response = operator_client.patch(
        f"{COUPONS}/{coupon['id']}", {"duration": "repeating", "duration_cycles": 10**12}, format="json"
    )

    error(response, 400, "parameter_invalid", "duration_cycles")


def test_an_extension_past_the_year_9999_answers_400_naming_days(operator_client):
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    subscription = checkout(customer=customer, plan_id=PlanFactory().id, payment_method_id=card.id).subscription
    Subscription.objects.filter(pk=subscription.pk).update(current_period_end=datetime(9999, 12, 1, tzinfo=UTC))

    response = operator_client.post(f"/api/v1/subscriptions/{subscription.id}/extend", {"days": 60}, format="json")

    error(response, 400, "parameter_invalid", "days")


@pytest.mark.parametrize("amount", [10**30, "1e999999", {"amount": "1.00", "currency": ["EUR"]}, [1]])
def test_a_refund_amount_that_is_not_one_answers_400_naming_amount(operator_client, amount):
    payment = succeeded_payment()

    response = operator_client.post(f"/api/v1/payments/{payment.id}/refunds", {"amount": amount}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"


def test_the_schema_states_each_bound(client):
    schema = client.get("/api/schema/?format=json").json()
    plan = schema["components"]["schemas"]["PlanWriteRequest"]["properties"]
    coupon = schema["components"]["schemas"]["CouponCreateRequest"]["properties"]

    assert (plan["interval_count"]["minimum"], plan["interval_count"]["maximum"]) == (1, 32767)
    assert (coupon["duration_cycles"]["minimum"], coupon["duration_cycles"]["maximum"]) == (1, 32767)
    assert coupon["max_redemptions"]["maximum"] == 2**31 - 1


# --- filters, paths, pages


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("/api/v1/payments", "status=%00%00", "status"),
        ("/api/v1/payments", "status=no-such-status", "status"),
        ("/api/v1/invoices", "status=%00", "status"),
        ("/api/v1/subscriptions", "status=nope", "status"),
        ("/api/v1/subscriptions", "customer=nobody", "customer"),
        ("/api/v1/subscriptions", "plan=%00", "plan"),
        ("/api/v1/plans", "kind=nope", "kind"),
        ("/api/v1/customers", "external_id=%00", "external_id"),
        ("/api/v1/customers", f"email={'a' * 300}", "email"),
        ("/api/v1/events", "type=a%00b", "type"),
        ("/api/v1/events", "customer=%00", "customer"),
    ],
)
def test_a_garbage_filter_answers_400_naming_it(operator_client, path, query, param):
    error(operator_client.get(f"{path}?{query}"), 400, "parameter_invalid", param)


def test_a_customers_filter_by_status_answers_400_naming_it(customer_client):
    error(customer_client.get("/api/v1/me/payments?status=%00"), 400, "parameter_invalid", "status")


def test_a_good_filter_still_filters(operator_client):
    payment = succeeded_payment()

    mine = operator_client.get(f"/api/v1/payments?customer={payment.customer_id}&status=succeeded").json()
    none = operator_client.get("/api/v1/payments?customer=cus_nobody&status=").json()

    assert [p["id"] for p in mine["results"]] == [payment.id]
    assert none["results"] == []


def test_a_currency_that_is_not_one_names_currency(customer_client):
    response = customer_client.get("/api/v1/me/gateway?currency=%00%00%00")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "currency"


def test_a_nul_in_the_path_answers_404(operator_client):
    error(operator_client.get("/api/v1/customers/cus_%00"), 404, "resource_missing")


def test_a_nul_in_a_hosted_page_query_answers_400_not_500():
    response = Client().get("/billing/pay/anything?payment=%00")

    assert response.status_code == 400


def test_a_3ds_challenge_that_does_not_exist_answers_404_in_the_error_object(db):
    error(Client().get("/sandbox/v1/challenge/ch_nothing"), 404, "resource_missing")


def test_a_webhook_by_get_answers_405_in_the_error_object(db):
    error(Client().get("/webhooks/gateways/gw_nothing"), 405, "method_not_allowed")


def test_the_parser_plumbing_refuses_deep_bodies_itself():
    """For views reached without the middleware (a request built by hand, APIRequestFactory)."""
    from rest_framework.exceptions import ParseError

    from integrations.kernel.api.parsing import MAX_JSON_DEPTH, json_body_loads

    def nested_lists(depth: int) -> bytes:
        return b"[" * depth + b"1" + b"]" * depth

    assert json_body_loads(nested_lists(MAX_JSON_DEPTH)) is not None
    with pytest.raises(ParseError):
        json_body_loads(nested_lists(MAX_JSON_DEPTH + 1))
    with pytest.raises(ParseError):
        json_body_loads(nested_lists(100_000))
