"""A customer's changes to their subscription end to end over HTTP with the sandbox gateway: cancel
at the period end or now, resume, an upgrade charged prorated at once, a downgrade applied at the
period end, and changes to a plan whose trial was used before."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from plans.services import Trial
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import (
    START,
    amount,
    attach_card,
    checkout,
    entitled,
    entitlements,
    events,
    invoices,
    mails,
    payments,
    subscribe,
    subscription,
)
from tests.subscription_lifecycle_helpers import FEB_10, MAR_10, at, cancel

pytestmark = pytest.mark.django_db


def change_plan(app, sub_id: str, plan):
    return app.post(f"/api/v1/me/subscriptions/{sub_id}/change-plan", {"plan": plan.id}, format="json")


# --- Cancel and resume --------------------------------------------------------------------------


def test_cancel_at_period_end_keeps_access_until_the_period_ends(billing, app, customer, monthly):
    sub = subscribe(app, monthly)
    billing.travel(START + timedelta(days=10))

    canceling = cancel(app, sub["id"])  # at_period_end is true by default

    assert canceling["status"] == "active" and canceling["cancel_at_period_end"] is True
    billing.run(FEB_10 - timedelta(minutes=1))
    assert subscription(app, sub["id"])["status"] == "active"
    assert entitled(app) is True
    assert not mails("has ended")

    billing.run(FEB_10)

    ended = subscription(app, sub["id"])
    assert ended["status"] == "canceled"
    assert ended["cancel_reason"] == "customer_request"
    assert entitled(app) is False
    assert len(invoices(app)) == 1 and len(payments(app)) == 1
    assert len(mails("has ended", to=customer.email)) == 1
    assert len(events(billing, "subscription.canceled", customer.id)) == 1


def test_resume_before_the_period_end_renews_normally(billing, app, customer, monthly):
    sub = subscribe(app, monthly)
    cancel(app, sub["id"])
    billing.travel(START + timedelta(days=20))

    response = app.post(f"/api/v1/me/subscriptions/{sub['id']}/resume")

    assert response.status_code == 200, response.content
    assert response.json()["cancel_at_period_end"] is False
    billing.run(FEB_10)
    renewed = subscription(app, sub["id"])
    assert renewed["status"] == "active" and renewed["cycles_billed"] == 2
    assert [p["status"] for p in payments(app)] == ["succeeded", "succeeded"]
    assert not mails("has ended")
    assert len(events(billing, "subscription.resumed", customer.id)) == 1


def test_cancel_now_ends_access_at_once(billing, app, customer, monthly):
    sub = subscribe(app, monthly)
    billing.travel(START + timedelta(days=3))

    canceled = cancel(app, sub["id"], at_period_end=False)

    assert canceled["status"] == "canceled"
    assert at(canceled["ended_at"]) == START + timedelta(days=3)
    assert entitled(app) is False
    assert len(mails("has ended", to=customer.email)) == 1
    billing.run(FEB_10)
    assert len(invoices(app)) == 1 and len(payments(app)) == 1


# --- Plan changes -------------------------------------------------------------------------------


def test_upgrade_halfway_charges_a_prorated_invoice_now(billing, app, customer, monthly, premium):
    sub = subscribe(app, monthly)
    halfway = START + (FEB_10 - START) / 2
    billing.travel(halfway)

    response = change_plan(app, sub["id"], premium)

    assert response.status_code == 200, response.content
    body = response.json()
    # plans.services.changes.subscription_change_plan: the new price less the unused part of the old one.
    unused = Decimal((FEB_10 - halfway).total_seconds()) / Decimal((FEB_10 - START).total_seconds())
    credit = (Decimal("9.99") * unused).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    due = Decimal("19.99") - credit
    assert Decimal("14.90") <= due <= Decimal("15.10")
    assert body["invoice"]["status"] == "paid"
    assert amount(body["invoice"]["total"]) == due
    assert body["payment"]["status"] == "succeeded"
    assert amount(body["payment"]["amount"]) == due
    upgraded = subscription(app, sub["id"])
    assert upgraded["plan"] == premium.id
    assert upgraded["price"] == {"amount": "19.99", "currency": "EUR"}
    assert at(upgraded["current_period_start"]) == halfway
    assert at(upgraded["current_period_end"]) == datetime(2030, 2, 26, 0, 0, tzinfo=UTC)
    changed = events(billing, "subscription.plan_changed", customer.id)
    assert [e["data"]["subscription"]["plan"] for e in changed] == [premium.id]
    assert [e["plan"] for e in entitlements(app)["entitlements"]] == [premium.id]
    # The next renewal is at the new plan's full price, from the new period's end.
    billing.run(FEB_10)
    assert len(invoices(app)) == 2
    billing.run(datetime(2030, 2, 26, 0, 0, tzinfo=UTC))
    assert [i["total"]["amount"] for i in invoices(app)] == ["9.99", f"{due}", "19.99"]


def test_downgrade_waits_for_the_period_end_then_renews_at_the_cheaper_price(billing, app, customer, monthly, premium):
    sub = subscribe(app, premium)
    billing.travel(START + timedelta(days=5))

    response = change_plan(app, sub["id"], monthly)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["invoice"] is None and body["payment"] is None
    assert body["subscription"]["plan"] == premium.id
    assert body["subscription"]["pending_plan"] == monthly.id
    assert len(payments(app)) == 1
    assert [e["plan"] for e in entitlements(app)["entitlements"]] == [premium.id]

    billing.run(FEB_10)

    renewed = subscription(app, sub["id"])
    assert renewed["plan"] == monthly.id
    assert renewed["price"] == {"amount": "9.99", "currency": "EUR"}
    assert renewed["pending_plan"] is None
    assert renewed["status"] == "active"
    assert [i["total"]["amount"] for i in invoices(app)] == ["19.99", "9.99"]
    assert [p["amount"]["amount"] for p in payments(app)] == ["19.99", "9.99"]
    assert events(billing, "subscription.plan_changed", customer.id)[-1]["data"]["subscription"]["plan"] == monthly.id
    billing.run(MAR_10)
    assert [i["total"]["amount"] for i in invoices(app)][-1] == "9.99"


def _trial_used_then_subscribed(billing, app, *, used, subscribed):
    """The customer tried `used` and left during its trial, then took `subscribed` (trial included)."""
    card = attach_card(app)
    tried = checkout(app, used, card).json()["subscription"]
    cancel(app, tried["id"], at_period_end=False)
    sub = checkout(app, subscribed, card).json()["subscription"]
    billing.run(START + timedelta(days=7))  # the trial ends: first period paid
    assert subscription(app, sub["id"])["status"] == "active"
    return sub


def test_upgrade_to_a_plan_whose_trial_was_used_before_is_charged_and_applied(billing, app):
    basic = PlanFactory(code="basic", trial=Trial(7, "day", requires_payment_method=True))
    premium = PlanFactory(code="premium-trial", trial=Trial(7, "day"), prices=[{"amount": "19.99", "currency": "EUR"}])
    sub = _trial_used_then_subscribed(billing, app, used=premium, subscribed=basic)
    billing.travel(START + timedelta(days=10))

    response = change_plan(app, sub["id"], premium)

    assert response.status_code == 200, response.content
    assert response.json()["payment"]["status"] == "succeeded"
    assert subscription(app, sub["id"])["plan"] == premium.id
    assert [p["status"] for p in payments(app)] == ["succeeded", "succeeded"]


def test_downgrade_to_a_plan_whose_trial_was_used_before_renews_on_it(billing, app):
    basic = PlanFactory(code="basic", trial=Trial(7, "day", requires_payment_method=True))
    premium = PlanFactory(code="premium-trial", trial=Trial(7, "day"), prices=[{"amount": "19.99", "currency": "EUR"}])
    sub = _trial_used_then_subscribed(billing, app, used=basic, subscribed=premium)
    assert change_plan(app, sub["id"], basic).status_code == 200

    billing.run(datetime(2030, 2, 17, 12, 0, tzinfo=UTC))

    renewed = subscription(app, sub["id"])
    assert (renewed["plan"], renewed["status"], renewed["cycles_billed"]) == (basic.id, "active", 2)
    assert [(p["status"], p["amount"]["amount"]) for p in payments(app)] == [
        ("succeeded", "19.99"),
        ("succeeded", "9.99"),
    ]
