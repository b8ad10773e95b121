"""A subscription's renewals end to end over HTTP with the sandbox gateway, `run_billing --as-of`
moving time: a renewal and its receipt, a rerun that does nothing more, fixed billing cycles, trial
and annual renewal reminders, and price changes for existing subscribers."""

from datetime import UTC, datetime, timedelta

import pytest

from payments.tests.factories import CustomerFactory
from plans.models import Subscription
from plans.services import Trial, subscription_move_to_current_price
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import START, entitled, events, invoices, mails, payments, subscribe, subscription
from tests.subscription_lifecycle_helpers import APR_10, FEB_10, MAR_10, MAY_10, at, attempts

pytestmark = pytest.mark.django_db


# --- Renewals -----------------------------------------------------------------------------------


def test_run_billing_at_the_period_end_renews_and_sends_a_receipt(billing, app, customer, monthly):
    sub = subscribe(app, monthly)

    billing.run(FEB_10)

    renewed = subscription(app, sub["id"])
    assert renewed["status"] == "active"
    assert renewed["cycles_billed"] == sub["cycles_billed"] + 1 == 2
    assert (at(renewed["current_period_start"]), at(renewed["current_period_end"])) == (FEB_10, MAR_10)
    bills = invoices(app)
    assert [(i["status"], i["total"]["amount"]) for i in bills] == [("paid", "9.99"), ("paid", "9.99")]
    assert [(p["status"], p["off_session"], p["invoice"]) for p in payments(app)] == [
        ("succeeded", False, bills[0]["id"]),
        ("succeeded", True, bills[1]["id"]),
    ]
    renewals = events(billing, "subscription.renewed", customer.id)
    assert [(e["data"]["subscription"]["id"], e["data"]["invoice"]) for e in renewals] == [(sub["id"], bills[1]["id"])]
    receipts = mails("Receipt", to=customer.email)
    assert len(receipts) == 2
    assert bills[1]["number"] in receipts[1].subject
    assert entitled(app) is True


def test_a_rerun_of_run_billing_at_the_same_time_does_nothing_more(billing, app, customer, monthly):
    sub = subscribe(app, monthly)
    billing.run(FEB_10)

    assert billing.run(FEB_10) == "nothing due"
    billing.run(FEB_10 + timedelta(hours=1))

    assert subscription(app, sub["id"])["cycles_billed"] == 2
    assert len(invoices(app)) == 2
    assert attempts(app) == [("succeeded", 1), ("succeeded", 1)]
    assert len(events(billing, "subscription.renewed", customer.id)) == 1
    assert len(mails("Receipt")) == 2


# --- Fixed billing cycles -----------------------------------------------------------------------


def test_a_plan_with_three_billing_cycles_renews_twice_then_ends(billing, app, customer):
    plan = PlanFactory(code="three-months", interval="month", billing_cycles=3)
    sub = subscribe(app, plan)

    billing.run(FEB_10)
    billing.run(MAR_10)
    assert subscription(app, sub["id"])["cycles_billed"] == 3
    assert entitled(app) is True

    billing.run(APR_10)

    ended = subscription(app, sub["id"])
    assert ended["status"] == "ended"
    assert at(ended["ended_at"]) == APR_10
    assert entitled(app) is False
    assert [e["data"]["subscription"]["id"] for e in events(billing, "subscription.ended", customer.id)] == [sub["id"]]
    billing.run(MAY_10)
    assert len(invoices(app)) == 3 and len(payments(app)) == 3
    assert len(events(billing, "subscription.renewed", customer.id)) == 2


# --- Reminders ----------------------------------------------------------------------------------


def test_trial_reminder_goes_out_three_days_before_the_trial_ends_once(billing, app, customer):
    plan = PlanFactory(code="trial", name="Trial", trial=Trial(7, "day", requires_payment_method=True))
    sub = subscribe(app, plan)
    assert sub["status"] == "trialing"

    billing.run(START + timedelta(days=3, hours=23))
    assert not mails("trial ends soon")

    billing.run(START + timedelta(days=4))
    billing.run(START + timedelta(days=4))
    billing.run(START + timedelta(days=5))

    assert len(mails("trial ends soon", to=customer.email)) == 1
    assert [e["data"]["subscription"]["id"] for e in events(billing, "subscription.trial_will_end", customer.id)] == [
        sub["id"]
    ]


def test_annual_renewal_reminder_goes_out_seven_days_before_each_renewal(billing, app, customer, monthly):
    annual = PlanFactory(
        code="annual",
        name="Annual",
        interval="year",
        prices=[{"amount": "99.00", "currency": "EUR"}, {"amount": "10000", "currency": "JPY"}],
    )
    subscribe(app, annual)
    subscribe(billing.app(CustomerFactory()), monthly)
    renews = datetime(2031, 1, 10, 12, 0, tzinfo=UTC)

    billing.run(FEB_10 - timedelta(days=7))  # the monthly subscriber is not reminded
    billing.run(renews - timedelta(days=7, minutes=1))
    assert not mails("renews soon")

    billing.run(renews - timedelta(days=7))
    billing.run(renews - timedelta(days=6))
    assert len(mails("renews soon", to=customer.email)) == 1
    assert len(mails("renews soon")) == 1

    billing.run(renews)
    billing.run(datetime(2032, 1, 3, 12, 0, tzinfo=UTC))
    assert len(mails("renews soon", to=customer.email)) == 2


# --- Price changes ------------------------------------------------------------------------------


def _change_price(billing, plan, eur: str):
    response = billing.operator.patch(
        f"/api/v1/plans/{plan.id}",
        {"prices": [{"amount": eur, "currency": "EUR"}, {"amount": "1300", "currency": "JPY"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert {"amount": eur, "currency": "EUR"} in response.json()["prices"]


def test_existing_subscribers_keep_their_price_after_a_price_change(billing, app, customer, monthly):
    sub = subscribe(app, monthly)
    billing.travel(START + timedelta(days=5))

    _change_price(billing, monthly, "12.99")

    newcomer = billing.app(CustomerFactory())
    assert subscribe(newcomer, monthly)["price"] == {"amount": "12.99", "currency": "EUR"}
    billing.run(FEB_10)
    billing.run(MAR_10)
    assert [i["total"]["amount"] for i in invoices(app)] == ["9.99", "9.99", "9.99"]
    assert subscription(app, sub["id"])["price"] == {"amount": "9.99", "currency": "EUR"}
    assert not mails("new price")


def test_operator_moves_a_subscriber_to_the_current_price_with_notice(billing, app, customer, monthly):
    sub = subscribe(app, monthly)
    billing.travel(START + timedelta(days=5))
    _change_price(billing, monthly, "12.99")

    subscription_move_to_current_price(subscription=Subscription.objects.get(pk=sub["id"]))

    billing.run(FEB_10 - timedelta(days=7, minutes=1))
    assert not mails("new price")
    billing.run(FEB_10 - timedelta(days=7))
    [notice] = mails("new price", to=customer.email)
    assert "9.99 EUR" in notice.body and "12.99 EUR" in notice.body
    assert subscription(app, sub["id"])["price"] == {"amount": "9.99", "currency": "EUR"}  # not before the renewal

    billing.run(FEB_10)

    assert subscription(app, sub["id"])["price"] == {"amount": "12.99", "currency": "EUR"}
    assert [i["total"]["amount"] for i in invoices(app)] == ["9.99", "12.99"]
    billing.run(MAR_10)
    assert [i["total"]["amount"] for i in invoices(app)][-1] == "12.99"
    assert len(mails("new price")) == 1
