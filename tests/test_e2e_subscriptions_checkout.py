"""Checkout of recurring plans end to end over HTTP with the sandbox gateway: first period charged
now, 3-D Secure on the first payment, trials with and without a card, one trial per plan, conflicts
and declines, with `run_billing --as-of` moving time."""

from datetime import datetime, timedelta

import pytest

from payments.models import Payment
from plans.models import Plan
from plans.services import Trial
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import (
    DECLINED_CARD,
    NO_FUNDS_CARD,
    OK_CARD,
    RETURN_URL,
    SCA_FIRST_PAYMENT_CARD,
    START,
    answer_challenge,
    attach_card,
    checkout,
    entitled,
    entitlements,
    error_of,
    events,
    invoices,
    local_path,
    mails,
    payments,
    subscription,
)

pytestmark = pytest.mark.django_db

LIVE = {"incomplete", "trialing", "active", "past_due", "paused"}


@pytest.fixture
def trial_with_card(db):
    return PlanFactory(code="trial-card", name="Trial with card", trial=Trial(7, "day", requires_payment_method=True))


@pytest.fixture
def cardless_trial(db):
    return PlanFactory(code="trial-free", name="Free trial", trial=Trial(7, "day", requires_payment_method=False))


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def own_subscriptions(app) -> list[dict]:
    response = app.get("/api/v1/me/subscriptions")
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- No trial -----------------------------------------------------------------------------------


def test_checkout_without_trial_charges_the_first_period_now_and_grants_access(billing, app, customer, monthly):
    card = attach_card(app)

    response = checkout(app, monthly, card)

    assert response.status_code == 201, response.content
    body = response.json()
    sub = body["subscription"]
    assert sub["status"] == "active"
    assert sub["plan"] == monthly.id
    assert sub["payment_method"] == card["id"]
    assert at(sub["current_period_start"]) == START
    assert at(sub["current_period_end"]) == datetime(2030, 2, 10, 12, 0, tzinfo=START.tzinfo)
    assert sub["trial_end"] is None and sub["cancel_at_period_end"] is False
    assert sub["cycles_billed"] == 1
    assert body["invoice"]["status"] == "paid"
    assert body["invoice"]["total"] == {"amount": "9.99", "currency": "EUR"}
    assert body["payment"]["status"] == "succeeded"
    assert body["payment"]["amount"] == {"amount": "9.99", "currency": "EUR"}
    assert body["payment"]["next_action"] is None
    access = entitlements(app)
    assert access["entitled"] is True
    assert [(e["plan"], e["source"], e["status"]) for e in access["entitlements"]] == [
        (monthly.id, "subscription", "active")
    ]
    assert at(access["entitlements"][0]["access_until"]) == at(sub["current_period_end"])
    assert len(mails("Receipt", to=customer.email)) == 1
    assert [e["data"]["subscription"]["id"] for e in events(billing, "subscription.created", customer.id)] == [
        sub["id"]
    ]


# --- 3-D Secure on the first payment ------------------------------------------------------------


def _checkout_needing_3ds(app, plan):
    card = attach_card(app, SCA_FIRST_PAYMENT_CARD)
    response = checkout(app, plan, card, return_url=RETURN_URL)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subscription"]["status"] == "incomplete"
    assert body["invoice"]["status"] == "open"
    assert body["payment"]["status"] == "requires_action"
    assert body["payment"]["next_action"]["type"] == "redirect_to_url"
    return body


def test_first_payment_asking_for_3ds_is_incomplete_until_the_customer_approves(billing, app, customer, monthly):
    body = _checkout_needing_3ds(app, monthly)
    sub_id = body["subscription"]["id"]
    assert entitled(app) is False
    assert not mails("Receipt")

    done = answer_challenge(billing.browser, body["payment"]["next_action"]["url"], "approve")

    assert done.status_code == 302
    assert done["Location"] == f"{RETURN_URL}?payment={body['payment']['id']}"
    sub = subscription(app, sub_id)
    assert sub["status"] == "active" and sub["cycles_billed"] == 1
    assert [s["id"] for s in own_subscriptions(app)] == [sub_id]  # no second checkout
    assert [p["status"] for p in payments(app)] == ["succeeded"]
    assert [i["status"] for i in invoices(app)] == ["paid"]
    assert entitled(app) is True
    assert len(mails("Receipt", to=customer.email)) == 1


def test_card_authenticated_on_the_first_payment_renews_off_session_without_asking_again(billing, app, monthly):
    body = _checkout_needing_3ds(app, monthly)
    answer_challenge(billing.browser, body["payment"]["next_action"]["url"], "approve")
    period_end = at(subscription(app, body["subscription"]["id"])["current_period_end"])

    billing.run(period_end)

    sub = subscription(app, body["subscription"]["id"])
    assert sub["status"] == "active" and sub["cycles_billed"] == 2
    assert [(p["status"], p["off_session"]) for p in payments(app)] == [("succeeded", False), ("succeeded", True)]


def test_failed_challenge_expires_the_incomplete_subscription(billing, app, monthly):
    body = _checkout_needing_3ds(app, monthly)

    done = answer_challenge(billing.browser, body["payment"]["next_action"]["url"], "fail")

    assert done.status_code == 302
    sub = subscription(app, body["subscription"]["id"])
    assert sub["status"] == "incomplete_expired"
    assert sub["cancel_reason"] == "first_payment_not_completed"
    assert entitled(app) is False
    assert [(p["status"], p["decline_code"]) for p in payments(app)] == [("failed", "authentication_failed")]
    assert [i["status"] for i in invoices(app)] == ["void"]
    # Nothing is left live: the customer may simply try again.
    assert checkout(app, monthly, attach_card(app, OK_CARD)).status_code == 201


def test_incomplete_subscription_left_unauthenticated_23_hours_is_expired_by_run_billing(billing, app, monthly):
    body = _checkout_needing_3ds(app, monthly)
    sub_id = body["subscription"]["id"]

    billing.run(START + timedelta(hours=22, minutes=59))
    assert subscription(app, sub_id)["status"] == "incomplete"

    billing.run(START + timedelta(hours=23))

    sub = subscription(app, sub_id)
    assert sub["status"] == "incomplete_expired"
    assert [p["status"] for p in payments(app)] == ["canceled"]
    assert [i["status"] for i in invoices(app)] == ["void"]
    assert entitled(app) is False
    # A late answer to the challenge cannot take money for the canceled payment.
    answer_challenge(billing.browser, body["payment"]["next_action"]["url"], "approve")
    assert [p["status"] for p in payments(app)] == ["canceled"]
    assert subscription(app, sub_id)["status"] == "incomplete_expired"


# --- Trial behind the paywall (a card is needed) ------------------------------------------------


def test_trial_needing_a_card_is_refused_without_one(billing, app, trial_with_card):
    response = checkout(app, trial_with_card)

    assert error_of(response) == (400, "invalid_request_error", "parameter_missing", "payment_method")
    assert own_subscriptions(app) == []


def test_trial_with_a_card_charges_nothing_until_it_ends(billing, app, customer, trial_with_card):
    card = attach_card(app)

    response = checkout(app, trial_with_card, card)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subscription"]["status"] == "trialing"
    assert body["subscription"]["payment_method"] == card["id"]
    assert at(body["subscription"]["trial_end"]) == START + timedelta(days=7)
    assert body["invoice"] is None and body["payment"] is None
    assert entitled(app) is True
    billing.run(START + timedelta(days=6, hours=23))
    assert payments(app) == [] and invoices(app) == []
    assert not Payment.objects.filter(customer=customer).exists()
    assert subscription(app, body["subscription"]["id"])["status"] == "trialing"


def test_trial_with_a_card_is_charged_at_its_end_by_run_billing(billing, app, customer, trial_with_card):
    body = checkout(app, trial_with_card, attach_card(app)).json()
    trial_end = START + timedelta(days=7)

    billing.run(trial_end)

    sub = subscription(app, body["subscription"]["id"])
    assert sub["status"] == "active"
    assert sub["cycles_billed"] == 1
    assert at(sub["current_period_start"]) == trial_end
    assert at(sub["current_period_end"]) == datetime(2030, 2, 17, 12, 0, tzinfo=START.tzinfo)
    assert [(p["status"], p["amount"], p["off_session"]) for p in payments(app)] == [
        ("succeeded", {"amount": "9.99", "currency": "EUR"}, True)
    ]
    assert [i["status"] for i in invoices(app)] == ["paid"]
    assert entitled(app) is True
    assert len(mails("Receipt", to=customer.email)) == 1


def test_a_trial_canceled_at_period_end_ends_without_any_charge(billing, app, customer, trial_with_card):
    sub_id = checkout(app, trial_with_card, attach_card(app)).json()["subscription"]["id"]
    canceling = app.post(f"/api/v1/me/subscriptions/{sub_id}/cancel", {}, format="json").json()
    assert (canceling["status"], canceling["cancel_at_period_end"]) == ("trialing", True)
    assert entitled(app) is True

    billing.run(START + timedelta(days=7))

    assert subscription(app, sub_id)["status"] == "canceled"
    assert entitled(app) is False
    assert payments(app) == [] and invoices(app) == []


# --- Cardless trial -----------------------------------------------------------------------------


def test_cardless_trial_starts_without_a_card(billing, app, cardless_trial):
    response = checkout(app, cardless_trial)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subscription"]["status"] == "trialing"
    assert body["subscription"]["payment_method"] is None
    assert body["invoice"] is None and body["payment"] is None
    assert entitled(app) is True


def test_cardless_trial_is_charged_at_its_end_when_a_card_was_added_since(billing, app, cardless_trial):
    sub_id = checkout(app, cardless_trial).json()["subscription"]["id"]
    billing.travel(START + timedelta(days=3))
    attach_card(app)

    billing.run(START + timedelta(days=7))

    sub = subscription(app, sub_id)
    assert sub["status"] == "active" and sub["cycles_billed"] == 1
    assert [(p["status"], p["amount"]) for p in payments(app)] == [("succeeded", {"amount": "9.99", "currency": "EUR"})]
    assert entitled(app) is True


def test_cardless_trial_ending_without_a_card_is_canceled_and_access_stops(billing, app, customer, cardless_trial):
    sub_id = checkout(app, cardless_trial).json()["subscription"]["id"]

    billing.run(START + timedelta(days=7))

    sub = subscription(app, sub_id)
    assert sub["status"] == "canceled"
    assert sub["cancel_reason"] == "trial_ended_without_payment_method"
    assert entitled(app) is False
    assert payments(app) == [] and invoices(app) == []
    assert [e["data"]["subscription"]["id"] for e in events(billing, "subscription.canceled", customer.id)] == [sub_id]
    assert len(mails("has ended", to=customer.email)) == 1


def test_cardless_trial_ending_without_a_card_is_paused_when_the_plan_says_so(billing, app, customer, cardless_trial):
    Plan.objects.filter(pk=cardless_trial.pk).update(trial_end_without_card="pause")
    sub_id = checkout(app, cardless_trial).json()["subscription"]["id"]

    billing.run(START + timedelta(days=7))

    assert subscription(app, sub_id)["status"] == "paused"
    assert entitled(app) is False
    assert payments(app) == [] and invoices(app) == []
    assert [e["data"]["subscription"]["id"] for e in events(billing, "subscription.paused", customer.id)] == [sub_id]


# --- One trial per customer per plan, conflicts, declines ---------------------------------------


def test_a_second_trial_of_the_same_plan_is_refused_even_after_cancel(billing, app, trial_with_card):
    card = attach_card(app)
    first = checkout(app, trial_with_card, card).json()["subscription"]
    canceled = app.post(f"/api/v1/me/subscriptions/{first['id']}/cancel", {"at_period_end": False}, format="json")
    assert canceled.json()["status"] == "canceled"
    billing.travel(START + timedelta(days=40))

    response = checkout(app, trial_with_card, card)

    assert error_of(response) == (422, "invalid_request_error", "trial_already_used", "plan")
    assert payments(app) == [] and invoices(app) == []
    assert [s["id"] for s in own_subscriptions(app)] == [first["id"]]


def test_a_cardless_trial_is_given_once_too(billing, app, cardless_trial):
    checkout(app, cardless_trial)
    billing.run(START + timedelta(days=7))  # ends without a card: canceled

    response = checkout(app, cardless_trial, attach_card(app))

    assert error_of(response)[:3] == (422, "invalid_request_error", "trial_already_used")
    assert payments(app) == []


def test_changing_plan_during_a_trial_does_not_give_that_trial_again(billing, app, trial_with_card, monthly):
    card = attach_card(app)
    first = checkout(app, trial_with_card, card).json()["subscription"]
    changed = app.post(f"/api/v1/me/subscriptions/{first['id']}/change-plan", {"plan": monthly.id}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["subscription"]["plan"] == monthly.id
    app.post(f"/api/v1/me/subscriptions/{first['id']}/cancel", {"at_period_end": False}, format="json")

    response = checkout(app, trial_with_card, card)

    assert error_of(response) == (422, "invalid_request_error", "trial_already_used", "plan")
    assert payments(app) == []


def test_a_second_live_subscription_to_the_same_plan_conflicts(billing, app, monthly):
    card = attach_card(app)
    assert checkout(app, monthly, card).status_code == 201

    response = checkout(app, monthly, card)

    assert error_of(response) == (409, "invalid_request_error", "subscription_exists", "plan")
    assert len(payments(app)) == 1 and len(own_subscriptions(app)) == 1


def test_a_second_checkout_of_a_live_trial_conflicts_before_anything_else(billing, app, trial_with_card):
    card = attach_card(app)
    checkout(app, trial_with_card, card)

    response = checkout(app, trial_with_card, card)

    assert error_of(response)[:3] == (409, "invalid_request_error", "subscription_exists")


def test_a_checkout_replayed_with_the_same_idempotency_key_charges_once(billing, app, monthly):
    card = attach_card(app)
    body = {"plan": monthly.id, "payment_method": card["id"]}

    first = app.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-1")
    replay = app.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-1")

    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert len(own_subscriptions(app)) == 1 and len(payments(app)) == 1


@pytest.mark.parametrize(("number", "code"), [(DECLINED_CARD, "card_declined"), (NO_FUNDS_CARD, "insufficient_funds")])
def test_declined_first_payment_answers_402_and_leaves_nothing_active(billing, app, customer, monthly, number, code):
    card = attach_card(app, number)  # the sandbox accepts the card and declines at charge

    response = checkout(app, monthly, card)

    assert error_of(response)[:3] == (402, "card_error", code)
    assert all(s["status"] not in LIVE for s in own_subscriptions(app))
    assert entitled(app) is False
    assert [p["status"] for p in payments(app)] == ["failed"]
    assert [i["status"] for i in invoices(app)] == ["void"]
    assert not mails("Receipt")
    # Nothing live is left behind, so another card can be used at once.
    assert checkout(app, monthly, attach_card(app, OK_CARD)).status_code == 201


def test_a_trial_card_that_asks_for_3ds_is_set_up_at_signup_so_the_trial_end_charge_goes_off_session(
    billing, app, trial_with_card
):
    response = checkout(
        app, trial_with_card, attach_card(app, "4000002500003155"), return_url="https://app.example.com/back"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subscription"]["status"] == "trialing"
    assert body["payment"] is None
    assert body["setup"]["status"] == "requires_action"
    page = billing.app(None).get(local_path(body["setup"]["next_action"]["url"]))
    assert b"Nothing is charged now" in page.content
    answer_challenge(billing.app(None), body["setup"]["next_action"]["url"], "approve")

    billing.run(START + timedelta(days=7))

    assert subscription(app, body["subscription"]["id"])["status"] == "active"
    assert [(p["status"], p["off_session"]) for p in payments(app)] == [("succeeded", True)]


def test_a_trial_card_never_set_up_asks_again_at_the_trial_end_and_the_subscription_goes_past_due(
    billing, app, trial_with_card
):
    body = checkout(app, trial_with_card, attach_card(app, "4000002500003155")).json()
    assert body["setup"]["status"] == "requires_action"  # and the customer never answers

    billing.run(START + timedelta(days=7))

    assert subscription(app, body["subscription"]["id"])["status"] == "past_due"
    assert payments(app)[0]["decline_code"] == "authentication_required"
    assert mails("confirm your")  # the action-required email with the pay-now link


def test_a_trial_card_that_plain_succeeds_needs_no_setup_step(billing, app, trial_with_card):
    body = checkout(app, trial_with_card, attach_card(app)).json()
    assert body["setup"] is None


def test_a_trial_behind_a_card_the_bank_declines_answers_402_and_starts_nothing(billing, app, trial_with_card):
    response = checkout(app, trial_with_card, attach_card(app, "4000000000009995"))

    assert response.status_code == 402
    assert error_of(response)[:3] == (402, "card_error", "insufficient_funds")
    assert own_subscriptions(app) == []
