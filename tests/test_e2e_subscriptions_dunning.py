"""Dunning end to end over HTTP with the sandbox gateway, `run_billing --as-of` moving time: a failed
renewal is past due but entitled during the grace period, retried after 1, 3 and 5 days, then
canceled; or recovered by a new default card, or on the pay-now page from the email (3-D Secure
included)."""

from datetime import timedelta

import pytest

from tests.subscription_helpers import (
    PAY_LINK_RE,
    RETURN_URL,
    SCA_ALWAYS_CARD,
    answer_challenge,
    attach_card,
    checkout,
    entitled,
    entitlements,
    events,
    html_of,
    invoices,
    local_path,
    mails,
    make_default,
    payments,
    subscription,
)
from tests.subscription_lifecycle_helpers import FEB_10, MAR_10, _past_due, at, attempts

pytestmark = pytest.mark.django_db


# --- Dunning ------------------------------------------------------------------------------------


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


def test_failed_tries_on_the_pay_now_page_count_as_retries_of_the_schedule(billing, app, customer, monthly):
    sub = _past_due(billing, app, monthly)
    [email] = mails("could not renew", to=customer.email)
    link = local_path(PAY_LINK_RE.search(email.body).group(0))
    billing.travel(FEB_10 + timedelta(hours=2))

    for _ in range(2):  # the default card still has no funds
        page = billing.browser.post(link)
        assert page.status_code == 200
        assert "insufficient funds" in page.content.decode()

    assert subscription(app, sub["id"])["status"] == "past_due"
    assert len(mails("could not renew")) == 1  # the customer saw the errors on the page
    billing.run(FEB_10 + timedelta(days=3))  # two of three retries were used on the page
    assert subscription(app, sub["id"])["status"] == "past_due"
    assert billing.browser.post(link).status_code == 200  # the last retry, used on the page
    ended = subscription(app, sub["id"])
    assert (ended["status"], ended["cancel_reason"]) == ("canceled", "payment_failed")
    assert [p["status"] for p in payments(app)][1] == "failed"
    # The link is dead: nothing more can be charged through it.
    page = billing.browser.post(link)
    assert b"Pay now" not in page.content
    assert len(payments(app)[1]["attempts"]) == 4  # the renewal and three tries, no more


def test_a_pay_now_link_pays_only_its_own_invoice(billing, app, customer, monthly):
    _past_due(billing, app, monthly)
    [email] = mails("could not renew", to=customer.email)
    link = local_path(PAY_LINK_RE.search(email.body).group(0))
    make_default(app, attach_card(app))  # a new card settles what is due
    assert [i["status"] for i in invoices(app)] == ["paid", "paid"]

    page = billing.browser.post(link)

    assert page.status_code == 200
    assert b"Pay now" not in page.content and b"Nothing is due" in page.content
    assert len(payments(app)) == 2


def test_pay_now_links_expire(billing, app, customer, monthly, settings):
    _past_due(billing, app, monthly)
    [email] = mails("could not renew", to=customer.email)
    settings.PAY_LINK_TTL_HOURS = 1
    billing.travel(FEB_10 + timedelta(hours=2))

    page = billing.browser.post(local_path(PAY_LINK_RE.search(email.body).group(0)))

    assert page.status_code == 404
    assert b"expired" in page.content
    assert len(payments(app)) == 2


def test_pay_now_tries_are_rate_limited_per_link(billing, app, customer, monthly, settings):
    settings.PAY_LINK_RATE = "1/hour"
    _past_due(billing, app, monthly)
    [email] = mails("could not renew", to=customer.email)
    link = local_path(PAY_LINK_RE.search(email.body).group(0))

    first, second = billing.browser.post(link), billing.browser.post(link)

    assert first.status_code == 200
    assert second.status_code == 429 and int(second["Retry-After"]) > 0
    assert b"Too many tries" in second.content
    assert len(payments(app)[1]["attempts"]) == 2


def test_pay_now_link_with_a_forged_token_is_not_found(billing):
    assert billing.browser.get("/billing/pay/not-a-signed-token").status_code == 404


def test_payments_show_their_attempts_and_invoices_their_count_and_next_retry(billing, app, customer, monthly):
    _past_due(billing, app, monthly)

    payment = payments(app)[1]
    invoice = invoices(app)[1]
    assert [(a["number"], a["outcome"], a["decline_code"]) for a in payment["attempts"]] == [
        (1, "failed", "insufficient_funds")
    ]
    assert (invoice["attempt_count"], at(invoice["next_attempt_at"])) == (1, FEB_10 + timedelta(days=1))

    billing.run(FEB_10 + timedelta(days=1))
    invoice = invoices(app)[1]
    assert (invoice["attempt_count"], at(invoice["next_attempt_at"])) == (2, FEB_10 + timedelta(days=3))
    assert [a["number"] for a in payments(app)[1]["attempts"]] == [1, 2]

    billing.run(FEB_10 + timedelta(days=3))
    billing.run(FEB_10 + timedelta(days=5))
    invoice = invoices(app)[1]
    assert (invoice["status"], invoice["attempt_count"], invoice["next_attempt_at"]) == ("uncollectible", 4, None)
    paid = invoices(app)[0]
    assert (paid["attempt_count"], paid["next_attempt_at"]) == (1, None)
