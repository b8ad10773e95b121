"""The connector runner over HTTP against a local HubSpot-shaped server: order and cursor, the
settle window, 429 with Retry-After, 401, back-off and its reset, disable/enable resuming from the
cursor, two runners at once, and credentials kept encrypted. Events are written with event_emit
and payloads shaped as the API shows them (this app knows no domain model)."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from integrations.connectors.facts import monthly_value
from integrations.connectors.services import (
    connector_backoff_reset,
    connector_create,
    connector_disable,
    connector_enable,
    connector_run,
    connectors_run,
)
from integrations.models import Connector, ConnectorRecord, Event
from integrations.services import event_emit, events_emit
from integrations.tests.concurrency import run_at_once
from integrations.tests.hubspot_server import TOKEN, HubSpotServer
from integrations.tests.outbox_events import customer, fixture_settled, invoice_paid, refreshed, subscription  # noqa: F401 (fixture_settled)

pytestmark = pytest.mark.django_db


@pytest.fixture
def hubspot(httpserver):
    return HubSpotServer().install(httpserver)


@pytest.fixture
def connector(hubspot, settled):
    return connector_create(
        kind="hubspot",
        name="CRM",
        credentials={"access_token": TOKEN},
        settings={"base_url": hubspot.base_url},
        enabled=True,
    )


def test_events_reach_hubspot_in_order_once_and_the_cursor_moves_past_each(hubspot, connector):
    customer()
    subscription("active")
    invoice_paid("9.99")
    last = event_emit(type="payment_method.attached", payload={"payment_method": {"id": "pm_1"}}, customer_id="cus_1")

    result = connector_run(connector=connector)

    assert (result.handled, result.error) == (4, "")
    upsert, *patches = hubspot.sent()
    assert (upsert.method, upsert.path) == ("POST", "/crm/v3/objects/contacts/batch/upsert")
    assert upsert.authorization == f"Bearer {TOKEN}"
    assert upsert.body["inputs"][0]["idProperty"] == "email"
    assert upsert.body["inputs"][0]["id"] == "ada@example.com"
    assert upsert.body["inputs"][0]["properties"]["firstname"] == "Ada"
    contact_id, _ = hubspot.by_email("ada@example.com")
    assert [(c.method, c.path) for c in patches] == [("PATCH", f"/crm/v3/objects/contacts/{contact_id}")] * 2
    assert [c.body["properties"]["mm_subscription_status"] for c in patches] == ["active", "active"]
    assert [c.body["properties"]["mm_lifetime_value"] for c in patches] == ["0", "9.99"]
    assert hubspot.contacts[contact_id]["mm_mrr"] == "9.99"
    assert len(hubspot.contacts) == 1
    record = ConnectorRecord.objects.get(connector=connector, object_type="customer", object_id="cus_1")
    assert record.external_id == contact_id
    after = refreshed(connector)
    last.refresh_from_db()
    assert (after.cursor_seq, after.cursor_event_id, after.events_handled) == (last.seq, last.id, 4)
    assert after.cursor_created_at == last.created_at
    assert after.status == "ok" and after.last_success_at is not None

    assert connector_run(connector=connector).handled == 0  # a rerun finds nothing new and sends nothing
    assert len(hubspot.calls) == 3


def test_a_batch_of_events_written_at_the_same_instant_is_read_in_the_order_it_was_written(hubspot, connector):
    """The set-based billing path writes a batch with one created_at (COPY on PostgreSQL); ids'
    tails are random, so only seq keeps a customer's events in their order."""
    customer()
    sub = {"id": "sub_1", "plan": "pln_1", "price": {"amount": "9.99", "currency": "EUR"}, "trial_end": None}
    statuses = ["trialing", "active", "past_due", "active", "canceled"] * 5
    events_emit([(f"subscription.{s}", {"subscription": {**sub, "status": s}}, "cus_1") for s in statuses])
    assert Event.objects.filter(type__startswith="subscription.").values("created_at").distinct().count() == 1

    assert connector_run(connector=connector).error == ""

    sent = [c.body.get("properties") or c.body["inputs"][0]["properties"] for c in hubspot.sent()]
    assert [p["mm_subscription_status"] for p in sent] == ["none", *statuses]


def test_the_runner_stops_at_the_first_unsettled_event_even_when_a_later_one_looks_older(hubspot, connector, settings):
    """Two processes' clocks, or a transaction that took its time: the cursor never passes an
    event that has not settled, whatever the created_at of those after it."""
    settings.CONNECTOR_SETTLE_SECONDS = 30
    now = timezone.now()
    young, older = customer(), customer(cid="cus_2", email="grace@example.com")
    Event.objects.filter(pk=young.pk).update(created_at=now)
    Event.objects.filter(pk=older.pk).update(created_at=now - timedelta(minutes=5))

    with time_machine.travel(now + timedelta(seconds=10), tick=False):
        assert connector_run(connector=connector).handled == 0
    with time_machine.travel(now + timedelta(seconds=31), tick=False):
        assert connector_run(connector=connector).handled == 2
    assert [c.body["inputs"][0]["id"] for c in hubspot.sent()] == ["ada@example.com", "grace@example.com"]


def test_an_event_younger_than_the_settle_window_waits_for_a_later_run(hubspot, connector, settings):
    settings.CONNECTOR_SETTLE_SECONDS = 30
    with time_machine.travel(timezone.now(), tick=False) as clock:
        customer()
        assert connector_run(connector=connector).handled == 0
        assert hubspot.calls == []
        clock.shift(timedelta(seconds=29))
        assert connector_run(connector=connector).handled == 0
        clock.shift(timedelta(seconds=1))
        assert connector_run(connector=connector).handled == 1
    assert len(hubspot.sent("POST")) == 1


def test_a_429_stops_the_run_and_the_same_event_is_sent_after_retry_after(hubspot, connector):
    customer()
    subscription("active")
    hubspot.fail_next(429, retry_after="7")

    with time_machine.travel(timezone.now(), tick=False) as clock:
        result = connector_run(connector=connector)
        failing = refreshed(connector)
        assert result.handled == 0 and "429" in result.error
        assert failing.status == "failing" and "retry after 7s" in failing.last_error
        assert failing.next_attempt_at == timezone.now() + timedelta(seconds=7)
        assert failing.cursor_seq == 0  # the event stays to be sent again

        clock.shift(timedelta(seconds=6))
        assert connector_run(connector=connector).skipped == "not due"
        assert len(hubspot.calls) == 1
        clock.shift(timedelta(seconds=1))
        assert connector_run(connector=connector).handled == 2

    assert [c.status for c in hubspot.calls] == [429, 200, 200]
    assert hubspot.calls[0].body == hubspot.calls[1].body  # the same event, sent again as it was
    healthy = refreshed(connector)
    assert (healthy.status, healthy.consecutive_failures, healthy.next_attempt_at) == ("ok", 0, None)


def test_a_401_marks_the_connector_failing_and_backs_off_longer_each_time_until_reset(hubspot, connector):
    customer()
    hubspot.fail_next(401, times=3)
    with time_machine.travel(timezone.now(), tick=False):
        waits = []
        for _ in range(3):
            connector_run(connector=connector, force=True)
            failing = refreshed(connector)
            waits.append((failing.next_attempt_at - timezone.now()).total_seconds())
        assert waits == [30, 60, 120]
        assert failing.status == "failing" and failing.consecutive_failures == 3
        assert "401" in failing.last_error and TOKEN not in failing.last_error
        assert connector_run(connector=connector).skipped == "not due"

        connector_backoff_reset(connector=connector)
        assert connector_run(connector=connector).handled == 1
    assert [c.status for c in hubspot.calls] == [401, 401, 401, 200]


def test_a_wrong_token_is_refused_by_hubspot_and_shown_without_the_token(hubspot, connector):
    Connector.objects.filter(pk=connector.pk).update(credentials={"access_token": "pat-na1-revoked"})
    customer()
    result = connector_run(connector=connector)
    assert "401" in result.error
    assert hubspot.calls[0].status == 401 and hubspot.contacts == {}
    assert "pat-na1-revoked" not in refreshed(connector).last_error


def test_a_disabled_connector_keeps_its_cursor_and_resumes_with_what_arrived_meanwhile(hubspot, connector):
    customer()
    connector_run(connector=connector)
    connector_disable(connector=connector)
    cursor = refreshed(connector).cursor_event_id
    subscription("trialing", trial_end="2030-01-17T12:00:00+00:00")
    subscription("active", type_="subscription.activated")

    assert connector_run(connector=connector).skipped == "disabled"
    assert connectors_run() == {}
    assert refreshed(connector).cursor_event_id == cursor and refreshed(connector).status == "disabled"
    assert len(hubspot.calls) == 1

    connector_enable(connector=connector)
    assert connectors_run()[connector.pk].handled == 2

    statuses = [c.body["properties"]["mm_subscription_status"] for c in hubspot.sent("PATCH")]
    assert statuses == ["trialing", "active"]
    trial = hubspot.sent("PATCH")[0].body["properties"]
    assert trial["mm_trial_end"] == "2030-01-17T12:00:00+00:00" and trial["mm_mrr"] == "0"


def test_a_changed_email_updates_the_same_contact(hubspot, connector):
    customer()
    customer(email="ada@lovelace.example", type_="customer.updated")
    connector_run(connector=connector)

    assert len(hubspot.contacts) == 1
    (properties,) = hubspot.contacts.values()
    assert properties["email"] == "ada@lovelace.example"


def test_a_contact_deleted_in_hubspot_is_made_again_by_email(hubspot, connector):
    customer()
    connector_run(connector=connector)
    hubspot.contacts.clear()
    subscription("active")
    connector_run(connector=connector)

    assert [c.status for c in hubspot.calls] == [200, 404, 200]
    (contact_id,) = hubspot.contacts
    assert ConnectorRecord.objects.get(object_id="cus_1").external_id == contact_id


def test_events_of_a_customer_seen_before_the_connector_find_their_email_in_the_outbox(hubspot, connector):
    customer()
    Connector.objects.filter(pk=connector.pk).update(cursor_seq=Event.objects.get().seq)
    subscription("active")
    connector_run(connector=connector)

    (call,) = hubspot.sent()
    assert call.body["inputs"][0]["id"] == "ada@example.com"


def test_refunds_lower_the_lifetime_value(hubspot, connector):
    customer()
    invoice_paid("9.99")
    invoice_paid("9.99")
    refund = {"id": "ref_1", "payment": "pay_1", "amount": {"amount": "4.99", "currency": "EUR"}}
    event_emit(type="payment.refunded", payload={"payment": {"id": "pay_1"}, "refund": refund}, customer_id="cus_1")
    connector_run(connector=connector)

    (properties,) = hubspot.contacts.values()
    assert properties["mm_lifetime_value"] == "14.99"


def test_an_erased_customer_is_deleted_from_hubspot_and_forgotten(hubspot, connector):
    customer()
    connector_run(connector=connector)
    event_emit(type="customer.erased", payload={"customer": {"id": "cus_1"}}, customer_id="cus_1")
    subscription("canceled")
    connector_run(connector=connector)

    assert hubspot.contacts == {}
    assert hubspot.sent()[-1].path == "/crm/v3/objects/contacts/gdpr-delete"
    record = ConnectorRecord.objects.get(object_id="cus_1")
    assert record.state == {"erased": True} and record.external_id == ""


def test_monthly_value_divides_the_price_by_the_interval_in_months():
    sub = {"price": {"amount": "99.99", "currency": "EUR"}}
    assert monthly_value(sub, {"interval": "year", "interval_count": 1}) == Decimal("8.33")
    assert monthly_value(sub, {"interval": "month", "interval_count": 3}) == Decimal("33.33")
    assert monthly_value({"price": {"amount": "1200", "currency": "JPY"}}, {"interval": "year"}) == Decimal("100")
    derived = {
        **sub,
        "current_period_start": "2030-01-31T00:00:00+00:00",
        "current_period_end": "2031-01-31T00:00:00+00:00",
    }
    assert monthly_value(derived, None) == Decimal("8.33")


def test_the_access_token_is_encrypted_at_rest(connector):
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connector WHERE id = %s", [connector.pk])
        (raw,) = cursor.fetchone()
    assert TOKEN not in raw and "access_token" not in raw
    assert refreshed(connector).credentials == {"access_token": TOKEN}


def test_a_connector_of_a_kind_not_built_yet_cannot_be_enabled(settled):
    from integrations.connectors.registry import KINDS
    from integrations.kernel.errors import InvalidRequest

    unbuilt = [kind for kind in Connector.Kind.values if kind not in KINDS]
    if unbuilt:
        later = connector_create(kind=unbuilt[0], name="Not built yet")
        with pytest.raises(InvalidRequest):
            connector_enable(connector=later)
    with pytest.raises(InvalidRequest):
        connector_create(kind="salesforce", name="Nope")


@pytest.mark.django_db(transaction=True)
def test_two_runners_at_once_send_each_event_once(hubspot, connector):
    customer()
    for index in range(5):
        customer(cid=f"cus_{index + 2}", email=f"viewer{index}@example.com")

    results = run_at_once(lambda: connector_run(connector=Connector.objects.get(pk=connector.pk)), [(), ()])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.handled for r in results) == 6
    emails = [c.body["inputs"][0]["id"] for c in hubspot.sent("POST")]
    assert sorted(emails) == sorted({*emails}) and len(emails) == 6
    assert refreshed(connector).events_handled == 6


def test_the_cursor_floor_is_the_oldest_cursor_of_the_connectors_that_read_on(hubspot, connector):
    from integrations.connectors.selectors import connectors_cursor_floor

    connector_create(kind="zendesk", name="Never enabled")
    assert connectors_cursor_floor() == 0  # enabled, nothing handled yet: it holds back every event
    first = customer()
    connector_run(connector=connector)
    customer(cid="cus_2", email="grace@example.com")
    first.refresh_from_db()
    assert connectors_cursor_floor() == first.seq
    connector_disable(connector=connector)
    assert connectors_cursor_floor() == first.seq  # disabled, it resumes from its cursor
    Connector.objects.all().delete()
    assert connectors_cursor_floor() is None


def test_a_run_out_of_time_stops_after_the_event_in_hand_and_the_next_run_goes_on(hubspot, connector):
    customer()
    subscription("trialing")
    subscription("active")

    assert [connector_run(connector=connector, seconds=0).handled for _ in range(4)] == [1, 1, 1, 0]
    assert [c.status for c in hubspot.calls] == [200, 200, 200]
