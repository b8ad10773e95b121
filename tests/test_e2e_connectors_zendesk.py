"""A subscriber's whole life lands in Zendesk as Zendesk expects, once and in order: created by the
operator's API, a trial with a card, the paid first invoice at the trial's end, a failed renewal
(past due, a note on the user), recovered by a new card, canceled (a note), refunded. Driven over
HTTP and `run_billing --as-of`, the connector run as its schedule would after each step, against a
local Zendesk-shaped server that answers one run 429 with Retry-After; a second connector on
another account that runs only once at the end writes exactly the same calls, and a third on the
same account adds no note twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors.services import connector_create, connector_run
from integrations.models import Connector, ConnectorRecord, Event
from integrations.tests.zendesk_server import AGENT_EMAIL, API_TOKEN, CREATE_OR_UPDATE, ZendeskServer, basic
from tests.connector_life_helpers import TRIAL_END, fixture_billing, fixture_trial_plan, subscriber_life  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def zendesk_connector(server: ZendeskServer, name: str) -> Connector:
    return connector_create(
        kind="zendesk",
        name=name,
        credentials={"email": AGENT_EMAIL, "api_token": API_TOKEN},
        settings={"base_url": server.base_url},
        enabled=True,
    )


def writes(server: ZendeskServer) -> list[tuple]:
    """What the connector changed in Zendesk (its reads left out), in order."""
    return [(c.method, c.path, c.body) for c in server.sent() if c.method != "GET"]


def sent_fields(server: ZendeskServer) -> list[dict]:
    return [c.body["user"]["user_fields"] for c in server.sent("POST", CREATE_OR_UPDATE)]


def test_a_subscribers_whole_life_lands_in_zendesk_once_and_in_order(billing, httpserver, trial_plan):
    live = ZendeskServer().install(httpserver)
    later = ZendeskServer().install(httpserver, prefix="/later")
    every_minute = zendesk_connector(live, "Support desk")
    once_at_the_end = zendesk_connector(later, "Support desk (caught up later)")

    def run_as_scheduled(step, life):
        if step == "past_due":
            # Zendesk answers the first call 429 "retry after 60 s": nothing is sent before then,
            # then everything, once.
            live.fail_next(429, retry_after="60")
            limited = connector_run(connector=every_minute)
            assert "429" in limited.error and "retry after 60s" in limited.error
            told = Connector.objects.get(pk=every_minute.pk).next_attempt_at
            assert told is not None and timedelta(seconds=59) < told - timezone.now() <= timedelta(seconds=60)
            calls_then = len(live.calls)
            assert connector_run(connector=every_minute).skipped == "not due"
            assert len(live.calls) == calls_then
            billing.travel(told + timedelta(seconds=1))
        result = connector_run(connector=every_minute)
        assert result.error == "", result.error

    customer = subscriber_life(billing, trial_plan, after=run_as_scheduled).customer

    # One user, keyed by our customer id, with the agent's API token on every call.
    assert len(live.users) == 1
    (user,) = live.users.values()
    assert (user["external_id"], user["email"], user["name"]) == (customer.pk, "ada@example.com", "Ada Lovelace")
    assert all(call.authorization == basic() for call in live.calls)
    assert ConnectorRecord.objects.get(connector=every_minute, object_id=customer.pk).external_id == str(user["id"])
    assert [c.status for c in live.sent("POST")][:2] == [201, 200]
    assert {(c.method, c.path) for c in live.sent() if c.method != "POST"} <= {
        ("GET", f"/api/v2/users/{user['id']}.json"),
        ("PUT", f"/api/v2/users/{user['id']}.json"),
    }

    # Each change of the user fields once, in the order it happened.
    facts = [
        (f["mm_subscription_status"], f["mm_mrr"], f["mm_lifetime_value"], f["mm_trial_end"] is not None)
        for f in sent_fields(live)
    ]
    assert facts == [
        ("none", "0", "0", False),
        ("trialing", "0", "0", True),
        ("trialing", "0", "9.99", True),  # the first invoice is paid a moment before the subscription moves on
        ("active", "9.99", "9.99", True),
        ("past_due", "9.99", "9.99", True),
        ("past_due", "9.99", "19.98", True),
        ("active", "9.99", "19.98", True),
        ("canceled", "0", "19.98", True),
        ("canceled", "0", "15.98", True),
    ]
    assert user["user_fields"]["mm_plan"] == "stream-monthly"
    assert user["user_fields"]["mm_currency"] == "EUR"
    assert user["user_fields"]["mm_trial_end"] == TRIAL_END.date().isoformat()

    # Exactly one note per failed payment and per cancelation, in order, each naming its event.
    noted = Event.objects.filter(customer_id=customer.pk, type__in=["payment.failed", "subscription.canceled"])
    noted = list(noted.order_by("created_at", "id"))
    assert [e.type for e in noted] == ["payment.failed", "subscription.canceled"]
    lines = live.notes_of(customer.pk)
    assert [line.rsplit(" ", 1)[-1] for line in lines] == [f"[{e.id}]" for e in noted]
    failed_amount = noted[0].payload["payment"]["amount"]
    assert f"Payment of {failed_amount['amount']} {failed_amount['currency']} failed (insufficient_funds" in lines[0]
    assert "Subscription" in lines[1] and "(stream-monthly) canceled: the customer's request" in lines[1]
    assert len(live.sent("PUT")) == 2

    # A connector that catches up in one run writes the very same calls.
    assert connector_run(connector=once_at_the_end).error == ""
    assert writes(later) == writes(live)
    assert later.notes_of(customer.pk) == lines

    # Another connector on the same account (a rerun from the start) finds every line there.
    again = zendesk_connector(live, "Support desk (again)")
    assert connector_run(connector=again).error == ""
    assert live.notes_of(customer.pk) == lines and len(live.users) == 1
    assert len(live.sent("PUT")) == 2
