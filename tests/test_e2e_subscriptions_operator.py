"""The operator's subscription routes end to end over HTTP with the sandbox gateway: list and filter,
cancel at the period end or now, pause and resume (a past-due one included), extend; and the routes
a customer token, or another customer, may not use."""

from datetime import UTC, datetime, timedelta

import pytest

from payments.tests.factories import CustomerFactory
from tests.subscription_helpers import (
    START,
    attach_card,
    entitled,
    events,
    invoices,
    make_default,
    payments,
    subscribe,
    subscription,
)
from tests.subscription_lifecycle_helpers import FEB_10, _past_due, at, cancel

pytestmark = pytest.mark.django_db


def operator_post(billing, sub_id: str, action: str, body=None):
    response = billing.operator.post(f"/api/v1/subscriptions/{sub_id}/{action}", body or {}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# --- Operator routes ----------------------------------------------------------------------------


def test_operator_lists_subscriptions_by_status_customer_and_plan(billing, customer, monthly, premium):
    other = CustomerFactory()
    mine = subscribe(billing.app(customer), monthly)
    theirs = subscribe(billing.app(other), monthly)
    their_premium = subscribe(billing.app(other), premium)
    cancel(billing.app(other), theirs["id"], at_period_end=False)

    def listed(**params):
        response = billing.operator.get("/api/v1/subscriptions", params)
        assert response.status_code == 200, response.content
        return {s["id"] for s in response.json()["results"]}

    assert listed() == {mine["id"], theirs["id"], their_premium["id"]}
    assert listed(customer=other.id) == {theirs["id"], their_premium["id"]}
    assert listed(status="canceled") == {theirs["id"]}
    assert listed(plan=monthly.id) == {mine["id"], theirs["id"]}
    assert listed(plan=monthly.id, status="active", customer=customer.id) == {mine["id"]}
    assert billing.operator.get(f"/api/v1/subscriptions/{mine['id']}").json()["customer"] == customer.id


def test_operator_cancels_at_period_end_or_now(billing, app, customer, monthly):
    sub = subscribe(app, monthly)

    later = operator_post(billing, sub["id"], "cancel")
    assert later["status"] == "active" and later["cancel_at_period_end"] is True
    now = operator_post(billing, sub["id"], "cancel", {"at_period_end": False})

    assert now["status"] == "canceled"
    assert now["cancel_reason"] == "operator"
    assert entitled(app) is False


def test_operator_pause_stops_access_and_resume_charges_a_new_period_now(billing, app, customer, monthly):
    sub = subscribe(app, monthly)
    billing.travel(START + timedelta(days=10))

    paused = operator_post(billing, sub["id"], "pause")

    assert paused["status"] == "paused"
    assert entitled(app) is False
    billing.run(FEB_10)
    assert len(payments(app)) == 1  # a paused subscription is not billed
    resumed_at = FEB_10 + timedelta(days=3)
    billing.travel(resumed_at)

    resumed = operator_post(billing, sub["id"], "resume")

    assert resumed["status"] == "active"
    assert at(resumed["current_period_start"]) == resumed_at
    assert at(resumed["current_period_end"]) == datetime(2030, 3, 13, 12, 0, tzinfo=UTC)
    assert [(p["status"], p["amount"]["amount"]) for p in payments(app)] == [
        ("succeeded", "9.99"),
        ("succeeded", "9.99"),
    ]
    assert entitled(app) is True
    assert len(events(billing, "subscription.paused", customer.id)) == 1
    assert len(events(billing, "subscription.resumed", customer.id)) == 1


def test_pausing_a_past_due_subscription_leaves_no_unpaid_invoice_behind(billing, app, customer, monthly):
    sub = _past_due(billing, app, monthly)
    billing.travel(FEB_10 + timedelta(days=2))
    assert operator_post(billing, sub["id"], "pause")["status"] == "paused"
    billing.travel(FEB_10 + timedelta(days=6))
    make_default(app, attach_card(app))

    resumed = operator_post(billing, sub["id"], "resume")

    assert resumed["status"] == "active"
    assert at(resumed["current_period_start"]) == FEB_10 + timedelta(days=6)
    # The period that failed was never served: it is not left open to collect, only the new one is billed.
    assert [i["status"] for i in invoices(app)] == ["paid", "void", "paid"]
    billing.run(FEB_10 + timedelta(days=7))
    assert subscription(app, sub["id"])["status"] == "active"


def test_operator_extend_moves_the_period_end_and_the_renewal(billing, app, customer, monthly):
    sub = subscribe(app, monthly)

    extended = operator_post(billing, sub["id"], "extend", {"days": 10})

    assert at(extended["current_period_end"]) == FEB_10 + timedelta(days=10)
    billing.run(FEB_10)
    assert len(payments(app)) == 1
    assert entitled(app) is True
    billing.run(FEB_10 + timedelta(days=10))
    renewed = subscription(app, sub["id"])
    assert renewed["cycles_billed"] == 2
    assert at(renewed["current_period_start"]) == FEB_10 + timedelta(days=10)
    assert len(payments(app)) == 2


def test_a_customer_token_on_operator_routes_is_forbidden(billing, app, monthly):
    sub = subscribe(app, monthly)

    for method, path in [
        ("get", "/api/v1/subscriptions"),
        ("get", f"/api/v1/subscriptions/{sub['id']}"),
        ("post", f"/api/v1/subscriptions/{sub['id']}/cancel"),
        ("post", f"/api/v1/subscriptions/{sub['id']}/pause"),
        ("post", f"/api/v1/subscriptions/{sub['id']}/resume"),
        ("post", f"/api/v1/subscriptions/{sub['id']}/extend"),
    ]:
        response = getattr(app, method)(path, {}, format="json") if method == "post" else app.get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["type"] == "permission_error"
    assert subscription(app, sub["id"])["status"] == "active"


def test_another_customers_subscription_is_not_found(billing, app, monthly, premium):
    sub = subscribe(app, monthly)
    stranger = billing.app(CustomerFactory())
    attach_card(stranger)

    assert stranger.get(f"/api/v1/me/subscriptions/{sub['id']}").status_code == 404
    for action, body in [("cancel", {"at_period_end": False}), ("resume", {}), ("change-plan", {"plan": premium.id})]:
        response = stranger.post(f"/api/v1/me/subscriptions/{sub['id']}/{action}", body, format="json")
        assert response.status_code == 404, action
    assert stranger.get("/api/v1/me/subscriptions").json()["results"] == []
    unchanged = subscription(app, sub["id"])
    assert (unchanged["status"], unchanged["plan"], unchanged["cancel_at_period_end"]) == ("active", monthly.id, False)
