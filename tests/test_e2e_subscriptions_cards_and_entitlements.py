"""A subscriber's cards and entitlements end to end over HTTP with the sandbox gateway: the only card
behind an active subscription cannot be deleted, and the entitlements list a subscription and a
one-off pass side by side."""

from datetime import timedelta

import pytest

from plans.tests.factories import PlanFactory
from tests.subscription_helpers import START, attach_card, checkout, entitlements, error_of, payments, subscribe
from tests.subscription_lifecycle_helpers import FEB_10

pytestmark = pytest.mark.django_db


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
