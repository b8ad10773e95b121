"""A subscription's life end to end over HTTP with the sandbox gateway, `run_billing --as-of`
moving time: renewals, dunning (retries, grace, cancellation), recovery by a new card or on the
pay-now page after 3-D Secure, cancel and resume, upgrade and downgrade, fixed cycles, operator
routes, reminders, price changes, cards and entitlements."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from payments.tests.factories import CustomerFactory
from plans.models import Subscription
from plans.services import Trial, subscription_move_to_current_price
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import (
    NO_FUNDS_CARD,
    PAY_LINK_RE,
    RETURN_URL,
    SCA_ALWAYS_CARD,
    START,
    amount,
    answer_challenge,
    attach_card,
    checkout,
    entitled,
    entitlements,
    error_of,
    events,
    html_of,
    invoices,
    local_path,
    mails,
    make_default,
    payments,
    subscribe,
    subscription,
)

pytestmark = pytest.mark.django_db

FEB_10 = datetime(2030, 2, 10, 12, 0, tzinfo=UTC)  # end of the first monthly period from START
MAR_10 = datetime(2030, 3, 10, 12, 0, tzinfo=UTC)
APR_10 = datetime(2030, 4, 10, 12, 0, tzinfo=UTC)
MAY_10 = datetime(2030, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def premium(db):
    return PlanFactory(
        code="premium",
        name="Premium",
        interval="month",
        prices=[{"amount": "19.99", "currency": "EUR"}, {"amount": "2000", "currency": "JPY"}],
    )


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def cancel(app, sub_id: str, **body):
    response = app.post(f"/api/v1/me/subscriptions/{sub_id}/cancel", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def change_plan(app, sub_id: str, plan):
    return app.post(f"/api/v1/me/subscriptions/{sub_id}/change-plan", {"plan": plan.id}, format="json")


def operator_post(billing, sub_id: str, action: str, body=None):
    response = billing.operator.post(f"/api/v1/subscriptions/{sub_id}/{action}", body or {}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def attempts(app) -> list[tuple[str, int]]:
    return [(p["status"], p["attempts"]) for p in payments(app)]


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


# --- Dunning ------------------------------------------------------------------------------------


def _past_due(billing, app, plan):
    """An active subscription whose default card now fails, after its renewal failed."""
    sub = subscribe(app, plan)
    make_default(app, attach_card(app, NO_FUNDS_CARD))
    billing.run(FEB_10)
    return subscription(app, sub["id"])


def test_failed_renewal_is_past_due_and_still_entitled_during_the_grace_period(billing, app, customer, monthly):
    sub = _past_due(billing, app, monthly)

    assert sub["status"] == "past_due"
    assert at(sub["grace_until"]) == FEB_10 + timedelta(days=7)
    assert at(sub["current_period_end"]) == FEB_10  # the unpaid period is not granted
    assert entitled(app) is True
    assert at(entitlements(app)["entitlements"][0]["access_until"]) == FEB_10 + timedelta(days=7)
    assert [(p["status"], p["decline_code"]) for p in payments(app)][1] == ("failed", "insufficient_funds")
    assert [i["status"] for i in invoices(app)] == ["paid", "open"]
    past_due = events(billing, "subscription.past_due", customer.id)
    assert [e["data"]["subscription"]["id"] for e in past_due] == [sub["id"]]
    failed = mails("could not renew", to=customer.email)
    assert len(failed) == 1
    assert PAY_LINK_RE.search(failed[0].body)


def test_failed_renewal_is_retried_after_1_3_and_5_days_then_canceled(billing, app, customer, monthly):
    sub = _past_due(billing, app, monthly)
    assert attempts(app)[1] == ("failed", 1)

    billing.run(FEB_10 + timedelta(hours=23))
    assert attempts(app)[1] == ("failed", 1)  # not due yet
    billing.run(FEB_10 + timedelta(days=1))
    assert attempts(app)[1] == ("failed", 2)
    billing.run(FEB_10 + timedelta(days=2))
    assert attempts(app)[1] == ("failed", 2)
    billing.run(FEB_10 + timedelta(days=3))
    assert attempts(app)[1] == ("failed", 3)
    billing.run(FEB_10 + timedelta(days=4))
    assert subscription(app, sub["id"])["status"] == "past_due"
    assert entitled(app) is True
    assert len(mails("could not renew")) == 3  # one per failed attempt while it stays past due
    assert not mails("has ended")

    billing.run(FEB_10 + timedelta(days=5))

    assert attempts(app)[1] == ("failed", 4)
    ended = subscription(app, sub["id"])
    assert ended["status"] == "canceled"
    assert ended["cancel_reason"] == "payment_failed"
    assert entitled(app) is False
    assert [i["status"] for i in invoices(app)] == ["paid", "uncollectible"]
    assert [e["data"]["subscription"]["id"] for e in events(billing, "subscription.canceled", customer.id)] == [
        sub["id"]
    ]
    assert len(events(billing, "subscription.past_due", customer.id)) == 1
    assert len(mails("has ended", to=customer.email)) == 1
    # Nothing is tried again once it is canceled.
    billing.run(FEB_10 + timedelta(days=8))
    billing.run(MAR_10)
    assert attempts(app)[1] == ("failed", 4)
    assert len(invoices(app)) == 2


def test_a_new_default_card_settles_a_past_due_renewal(billing, app, customer, monthly):
    sub = _past_due(billing, app, monthly)
    billing.travel(FEB_10 + timedelta(hours=5))
    card = attach_card(app)  # the failing card stays the default until this one is chosen
    assert card["is_default"] is False

    make_default(app, card)

    recovered = subscription(app, sub["id"])
    assert recovered["status"] == "active"
    assert recovered["cycles_billed"] == 2
    assert (at(recovered["current_period_start"]), at(recovered["current_period_end"])) == (FEB_10, MAR_10)
    assert recovered["grace_until"] is None
    assert [i["status"] for i in invoices(app)] == ["paid", "paid"]
    assert payments(app)[1]["status"] == "succeeded"
    assert payments(app)[1]["payment_method"] == card["id"]
    assert len(mails("Receipt", to=customer.email)) == 2
    # The retry schedule is over: the next charge is the next renewal.
    billing.run(FEB_10 + timedelta(days=1))
    assert attempts(app)[1] == ("succeeded", 2)
    billing.run(MAR_10)
    assert subscription(app, sub["id"])["cycles_billed"] == 3


def test_renewal_asking_for_3ds_is_paid_on_the_pay_now_page_from_the_email(billing, app, customer, monthly):
    first = checkout(app, monthly, attach_card(app, SCA_ALWAYS_CARD), return_url=RETURN_URL).json()
    answer_challenge(billing.browser, first["payment"]["next_action"]["url"], "approve")
    sub_id = first["subscription"]["id"]
    assert subscription(app, sub_id)["status"] == "active"

    billing.run(FEB_10)

    assert subscription(app, sub_id)["status"] == "past_due"
    assert payments(app)[1]["decline_code"] == "authentication_required"
    assert not mails("could not renew")
    [email] = mails("confirm", to=customer.email)
    link = PAY_LINK_RE.search(email.body).group(0)
    assert link in html_of(email)
    page = billing.browser.get(local_path(link))
    assert page.status_code == 200
    assert b"Pay now" in page.content

    paying = billing.browser.post(local_path(link))

    assert paying.status_code == 302
    assert "/sandbox/" in paying["Location"]
    back = answer_challenge(billing.browser, paying["Location"], "approve")
    assert back.status_code == 302
    assert "/billing/pay/" in back["Location"] and "payment=pay_" in back["Location"]
    done = billing.browser.get(local_path(back["Location"]))
    assert done.status_code == 200
    assert b"Pay now" not in done.content
    sub = subscription(app, sub_id)
    assert sub["status"] == "active" and sub["cycles_billed"] == 2
    assert (at(sub["current_period_start"]), at(sub["current_period_end"])) == (FEB_10, MAR_10)
    assert [i["status"] for i in invoices(app)] == ["paid", "paid"]
    assert payments(app)[1]["status"] == "succeeded"
    assert entitled(app) is True
    assert len(mails("Receipt", to=customer.email)) == 2
    billing.run(FEB_10 + timedelta(days=1))  # no retry left pending
    assert attempts(app)[1] == ("succeeded", 2)


def test_pay_now_page_shows_the_amount_due_in_the_currencys_digits(billing, app, customer, monthly):
    _past_due(billing, app, monthly)
    [email] = mails("could not renew", to=customer.email)

    page = billing.browser.get(local_path(PAY_LINK_RE.search(email.body).group(0)))

    assert page.status_code == 200
    assert "9.99 EUR" in page.content.decode()
    assert "9.990" not in page.content.decode()


def test_failed_attempts_on_the_pay_now_page_do_not_use_up_the_retries(billing, app, customer, monthly):
    sub = _past_due(billing, app, monthly)
    [email] = mails("could not renew", to=customer.email)
    link = local_path(PAY_LINK_RE.search(email.body).group(0))
    billing.travel(FEB_10 + timedelta(hours=2))

    for _ in range(3):  # the default card still has no funds
        page = billing.browser.post(link)
        assert page.status_code == 200
        assert "insufficient funds" in page.content.decode()

    still = subscription(app, sub["id"])
    assert still["status"] == "past_due"
    assert at(still["grace_until"]) == FEB_10 + timedelta(days=7)
    assert entitled(app) is True
    assert len(mails("could not renew")) == 1  # the customer saw the error on the page
    # The scheduled retries go on as before.
    billing.run(FEB_10 + timedelta(days=1))
    billing.run(FEB_10 + timedelta(days=3))
    assert subscription(app, sub["id"])["status"] == "past_due"
    billing.run(FEB_10 + timedelta(days=5))
    assert subscription(app, sub["id"])["cancel_reason"] == "payment_failed"


def test_pay_now_link_with_a_forged_token_is_not_found(billing):
    assert billing.browser.get("/billing/pay/not-a-signed-token").status_code == 404


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


# --- Cards and entitlements ---------------------------------------------------------------------


def test_deleting_the_only_card_behind_an_active_subscription_is_refused(billing, app, monthly):
    subscribe(app, monthly)
    [card] = app.get("/api/v1/me/payment-methods").json()["results"]

    response = app.delete(f"/api/v1/me/payment-methods/{card['id']}")

    assert error_of(response)[:3] == (422, "invalid_request_error", "payment_method_in_use")
    assert [c["id"] for c in app.get("/api/v1/me/payment-methods").json()["results"]] == [card["id"]]
    # With another card on file the old one may go, and renewals are charged to the one left.
    other = attach_card(app)
    assert app.delete(f"/api/v1/me/payment-methods/{card['id']}").status_code == 204
    billing.run(FEB_10)
    assert payments(app)[-1]["payment_method"] == other["id"]
    assert payments(app)[-1]["status"] == "succeeded"


def test_entitlements_list_both_a_subscription_and_a_one_off_access(billing, app, monthly):
    event_pass = PlanFactory(
        code="event-pass", kind="one_off", interval=None, access_days=2, prices=[{"amount": "4.99", "currency": "EUR"}]
    )
    sub = subscribe(app, monthly)
    card = app.get("/api/v1/me/payment-methods").json()["results"][0]
    assert checkout(app, event_pass, card).status_code == 201

    body = entitlements(app)

    assert body["entitled"] is True
    assert sorted((e["source"], e["plan"], e["subscription"]) for e in body["entitlements"]) == [
        ("one_off", event_pass.id, None),
        ("subscription", monthly.id, sub["id"]),
    ]
    billing.travel(START + timedelta(days=3))  # the pass lasts two days
    assert [e["source"] for e in entitlements(app)["entitlements"]] == ["subscription"]
