"""The Zendesk connector over HTTP against a local Zendesk-shaped server: users created or updated by
external_id with the customer's facts as user fields (sent only when they change), a dated note on
the user for a failed payment or a cancelation (never twice, never card data), Zendesk's faults
(429 and 503 with Retry-After, 401, 422 with details, a user deleted in Zendesk, a lost answer),
the permanent deletion of an erased customer, and the admin. Events are written with event_emit
and payloads shaped as the API shows them (this app knows no domain model)."""

import base64
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conftest import audit_text, sign_in_verified, staff_in_role
from integrations.connectors.services import connector_create, connector_run
from integrations.connectors.zendesk import USER_FIELDS, api_root, note_line
from integrations.models import Connector, ConnectorRecord, Event
from integrations.services import event_emit
from integrations.tests.outbox_events import (  # noqa: F401 (fixture_settled)
    customer,
    fixture_settled,
    invoice_paid,
    plan_created,
    refreshed,
    subscription,
)
from integrations.tests.zendesk_server import (
    AGENT_EMAIL,
    API_TOKEN,
    CREATE_OR_UPDATE,
    OAUTH_TOKEN,
    ZendeskServer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def zendesk(httpserver):
    return ZendeskServer().install(httpserver)


def zendesk_connector(server: ZendeskServer, name: str = "Support desk", **credentials) -> Connector:
    return connector_create(
        kind="zendesk",
        name=name,
        credentials=credentials or {"email": AGENT_EMAIL, "api_token": API_TOKEN},
        settings={"base_url": server.base_url},
        enabled=True,
    )


@pytest.fixture
def connector(zendesk, settled):
    return zendesk_connector(zendesk)


def payment_failed(cid="cus_1", pid="pay_1", code="insufficient_funds", message="Your card has insufficient funds."):
    payment = {
        "id": pid,
        "customer": cid,
        "payment_method": "pm_secret_card",
        "status": "failed",
        "amount": {"amount": "9.99", "currency": "EUR"},
        "decline_code": code,
        "failure_message": message,
    }
    return event_emit(type="payment.failed", payload={"payment": payment}, customer_id=cid)


def record(connector, cid="cus_1") -> ConnectorRecord:
    return ConnectorRecord.objects.get(connector=connector, object_type="customer", object_id=cid)


def ran(connector) -> None:
    result = connector_run(connector=connector)
    assert result.error == "", result.error


# --- Users and their fields ------------------------------------------------------------------------


def test_a_customer_becomes_one_user_by_external_id_with_the_facts_as_user_fields(zendesk, connector):
    customer()
    plan_created()
    subscription("trialing", trial_end="2030-01-17T12:00:00+00:00", type_="subscription.created")
    subscription("active", trial_end="2030-01-17T12:00:00+00:00", type_="subscription.activated")
    invoice_paid()

    ran(connector)

    calls = zendesk.sent()
    assert [(c.method, c.path, c.status) for c in calls] == [("POST", CREATE_OR_UPDATE, 201)] + [
        ("POST", CREATE_OR_UPDATE, 200)
    ] * 3
    expected_auth = "Basic " + base64.b64encode(f"{AGENT_EMAIL}/token:{API_TOKEN}".encode()).decode()
    assert {c.authorization for c in zendesk.calls} == {expected_auth}
    first = calls[0].body["user"]
    assert first == {
        "external_id": "cus_1",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "skip_verify_email": True,
        "user_fields": {
            "mm_subscription_status": "none",
            "mm_plan": None,
            "mm_mrr": "0",
            "mm_currency": "EUR",
            "mm_trial_end": None,
            "mm_lifetime_value": "0",
        },
    }
    assert [c.body["user"]["user_fields"]["mm_subscription_status"] for c in calls] == [
        "none",
        "trialing",
        "active",
        "active",
    ]
    assert calls[1].body["user"]["user_fields"]["mm_trial_end"] == "2030-01-17"
    (user,) = zendesk.users.values()
    assert user["external_id"] == "cus_1" and user["role"] == "end-user"
    assert user["user_fields"] == {
        "mm_subscription_status": "active",
        "mm_plan": "stream-monthly",
        "mm_mrr": "9.99",
        "mm_currency": "EUR",
        "mm_trial_end": "2030-01-17",
        "mm_lifetime_value": "9.99",
    }
    assert record(connector).external_id == str(user["id"])
    assert set(first["user_fields"]) == set(USER_FIELDS)

    assert connector_run(connector=connector).handled == 0  # a rerun finds nothing new and sends nothing
    assert len(zendesk.calls) == 4


def test_an_event_that_changes_nothing_zendesk_shows_sends_nothing(zendesk, connector):
    customer()
    ran(connector)
    customer(type_="customer.updated")  # the same name and email again
    event_emit(type="payment_method.attached", payload={"payment_method": {"id": "pm_1"}}, customer_id="cus_1")
    event_emit(type="payment.succeeded", payload={"payment": {"id": "pay_1"}}, customer_id="cus_1")

    assert connector_run(connector=connector).handled == 3
    assert len(zendesk.calls) == 1


def test_a_changed_email_reaches_the_same_user_by_external_id(zendesk, connector):
    customer()
    customer(email="ada@lovelace.example", type_="customer.updated")
    ran(connector)

    (user,) = zendesk.users.values()
    assert user["email"] == "ada@lovelace.example"
    assert [c.body["user"]["external_id"] for c in zendesk.sent()] == ["cus_1", "cus_1"]


def test_an_oauth_access_token_is_sent_as_a_bearer_token(zendesk, settled):
    connector = zendesk_connector(zendesk, access_token=OAUTH_TOKEN)
    customer()
    ran(connector)

    assert [c.authorization for c in zendesk.calls] == [f"Bearer {OAUTH_TOKEN}"]
    assert len(zendesk.users) == 1


def test_the_base_url_may_be_given_with_or_without_the_api_path():
    assert api_root("https://acme.zendesk.com") == "https://acme.zendesk.com/api/v2"
    assert api_root("https://acme.zendesk.com/") == "https://acme.zendesk.com/api/v2"
    assert api_root("https://acme.zendesk.com/api/v2/") == "https://acme.zendesk.com/api/v2"


# --- Notes -----------------------------------------------------------------------------------------


def test_a_failed_payment_adds_one_dated_line_to_the_notes_below_the_agents_own(zendesk, connector):
    customer()
    ran(connector)
    user_id = record(connector).external_id
    zendesk.users[user_id]["notes"] = "VIP: call before closing anything."
    failed = payment_failed(message="Declined: card 4000 0000 0000 9995 has insufficient funds.")

    ran(connector)

    get, put = zendesk.calls[1:]
    assert (get.method, get.path, get.status) == ("GET", f"/api/v2/users/{user_id}.json", 200)
    assert (put.method, put.path, put.status) == ("PUT", f"/api/v2/users/{user_id}.json", 200)
    assert set(put.body["user"]) == {"notes"}
    agent, line = zendesk.notes_of("cus_1")
    assert agent == "VIP: call before closing anything."
    when = failed.created_at.strftime("%Y-%m-%d %H:%M UTC")
    assert line.startswith(f"{when} Payment of 9.99 EUR failed (insufficient_funds: Declined: card ")
    assert line.endswith(f"payment pay_1 [{failed.id}]")
    assert "4000" not in line and "9995" not in line and "pm_secret_card" not in line


def test_a_cancelation_adds_a_line_with_the_plan_and_the_reason(zendesk, connector):
    customer()
    plan_created()
    subscription("active")
    canceled = subscription("canceled", cancel_reason="payment_failed")

    ran(connector)

    (line,) = zendesk.notes_of("cus_1")
    assert line.endswith(f"Subscription sub_1 (stream-monthly) canceled: payments that failed [{canceled.id}]")
    user = zendesk.by_external_id("cus_1")
    assert user["user_fields"]["mm_subscription_status"] == "canceled"
    # The fields first (so the user exists), then the note read and written.
    assert [c.method for c in zendesk.sent()] == ["POST", "POST", "POST", "GET", "PUT"]


def test_other_events_add_no_note(zendesk, connector):
    customer()
    subscription("active")
    subscription("past_due")
    invoice_paid()
    ran(connector)

    assert zendesk.notes_of("cus_1") == []
    assert {c.method for c in zendesk.calls} == {"POST"}


def test_a_note_whose_answer_was_lost_is_not_written_twice_when_the_event_is_retried(zendesk, connector):
    customer()
    ran(connector)
    zendesk.lose_next_answer(method="PUT")
    payment_failed()

    with time_machine.travel(timezone.now(), tick=False) as clock:
        result = connector_run(connector=connector)
        assert "504" in result.error and result.handled == 0
        clock.shift(timedelta(seconds=30))
        ran(connector)

    assert [(c.method, c.status) for c in zendesk.calls[1:]] == [("GET", 200), ("PUT", 504), ("GET", 200)]
    assert len(zendesk.notes_of("cus_1")) == 1


def test_a_second_connector_on_the_same_account_finds_the_lines_there_and_adds_none(zendesk, connector):
    customer()
    payment_failed()
    payment_failed(pid="pay_2")
    ran(connector)
    assert len(zendesk.notes_of("cus_1")) == 2

    ran(zendesk_connector(zendesk, name="Support desk (again)"))

    assert len(zendesk.notes_of("cus_1")) == 2
    assert len(zendesk.users) == 1
    assert [(c.method, c.status) for c in zendesk.calls[-3:]] == [("POST", 200), ("GET", 200), ("GET", 200)]


def test_a_failed_payment_of_a_customer_not_yet_sent_makes_the_user_first(zendesk, connector):
    payment_failed(cid="cus_9")  # its customer.created is gone from the outbox (purged)

    ran(connector)

    assert [c.method for c in zendesk.sent()] == ["POST", "GET", "PUT"]
    user = zendesk.by_external_id("cus_9")
    assert user["name"] == "cus_9" and user["email"] is None
    assert len(zendesk.notes_of("cus_9")) == 1


def test_the_note_line_says_what_happened_when_the_payload_is_thin():
    event = Event(id="evt_1", type="payment.failed", payload={"payment": {}}, created_at=timezone.now())
    assert "Payment of an unknown amount failed (no reason given) [evt_1]" in note_line(event)
    event = Event(id="evt_2", type="subscription.canceled", payload={"subscription": {"id": "sub_1"}})
    event.created_at = timezone.now()
    assert note_line(event).endswith("Subscription sub_1 canceled: no reason given [evt_2]")
    assert note_line(Event(id="evt_3", type="invoice.paid", payload={}, created_at=timezone.now())) == ""


# --- Faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_a_rate_limit_stops_the_run_and_the_same_event_is_sent_after_retry_after(zendesk, connector, status):
    customer()
    subscription("active")
    zendesk.fail_next(status, retry_after="7")

    with time_machine.travel(timezone.now(), tick=False) as clock:
        result = connector_run(connector=connector)
        failing = refreshed(connector)
        assert result.handled == 0 and str(status) in result.error
        assert failing.status == "failing" and "retry after 7s" in failing.last_error
        assert failing.next_attempt_at == timezone.now() + timedelta(seconds=7)

        clock.shift(timedelta(seconds=6))
        assert connector_run(connector=connector).skipped == "not due"
        assert len(zendesk.calls) == 1
        clock.shift(timedelta(seconds=1))
        assert connector_run(connector=connector).handled == 2

    assert [c.status for c in zendesk.calls] == [status, 201, 200]
    assert zendesk.calls[0].body == zendesk.calls[1].body  # the same event, sent again as it was
    assert (refreshed(connector).status, refreshed(connector).consecutive_failures) == ("ok", 0)


def test_a_rate_limit_while_the_note_is_written_writes_it_once_later(zendesk, connector):
    customer()
    ran(connector)
    payment_failed()
    zendesk.fail_next(429, retry_after="3", method="PUT")

    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert "429" in connector_run(connector=connector).error
        clock.shift(timedelta(seconds=3))
        ran(connector)

    assert [(c.method, c.status) for c in zendesk.calls[1:]] == [("GET", 200), ("PUT", 429), ("GET", 200), ("PUT", 200)]
    assert len(zendesk.notes_of("cus_1")) == 1


def test_wrong_credentials_are_refused_and_shown_without_them(zendesk, settled):
    connector = zendesk_connector(zendesk, email=AGENT_EMAIL, api_token="revoked-token-0000")
    customer()

    result = connector_run(connector=connector)

    assert "401" in result.error and zendesk.users == {}
    error = refreshed(connector).last_error
    assert "revoked-token-0000" not in error
    assert base64.b64encode(f"{AGENT_EMAIL}/token:revoked-token-0000".encode()).decode() not in error
    assert "API token" in error and refreshed(connector).status == "failing"


def test_a_422_names_zendesks_details_and_keeps_the_event(zendesk, connector):
    customer(email="ada@nowhere")

    result = connector_run(connector=connector)

    assert result.handled == 0
    error = refreshed(connector).last_error
    assert "422" in error and "RecordInvalid" in error and "Record validation errors" in error
    assert "email: Email: ada@nowhere is not properly formatted" in error
    assert API_TOKEN not in error
    assert not ConnectorRecord.objects.filter(connector=connector, external_id__gt="").exists()


def test_a_user_deleted_in_zendesk_is_made_again_by_external_id_and_gets_the_note(zendesk, connector):
    customer()
    ran(connector)
    old_id = record(connector).external_id
    zendesk.users.clear()  # an agent deleted the user
    payment_failed()

    ran(connector)

    assert [(c.method, c.status) for c in zendesk.calls[1:]] == [
        ("GET", 404),
        ("POST", 201),
        ("GET", 200),
        ("PUT", 200),
    ]
    (user,) = zendesk.users.values()
    assert str(user["id"]) != old_id and record(connector).external_id == str(user["id"])
    assert len(zendesk.notes_of("cus_1")) == 1


def test_a_connector_without_address_or_credentials_says_what_is_missing(zendesk, settled):
    customer()
    nowhere = connector_create(
        kind="zendesk", name="No address", credentials={"email": AGENT_EMAIL, "api_token": API_TOKEN}, enabled=True
    )
    assert "https://<subdomain>.zendesk.com" in connector_run(connector=nowhere).error
    anonymous = connector_create(
        kind="zendesk", name="No token", settings={"base_url": zendesk.base_url}, credentials={"email": AGENT_EMAIL}
    )
    Connector.objects.filter(pk=anonymous.pk).update(enabled=True)
    assert "API token" in connector_run(connector=anonymous).error
    assert zendesk.calls == []


# --- Erasure ---------------------------------------------------------------------------------------


def test_an_erased_customer_is_deleted_for_good_and_forgotten(zendesk, connector):
    customer()
    payment_failed()
    ran(connector)
    user_id = record(connector).external_id
    event_emit(type="customer.erased", payload={"customer": {"id": "cus_1"}}, customer_id="cus_1")
    subscription("canceled", cancel_reason="customer_erased")
    payment_failed(pid="pay_2")

    ran(connector)

    erasure = zendesk.calls[-2:]
    assert [(c.method, c.path, c.status) for c in erasure] == [
        ("DELETE", f"/api/v2/users/{user_id}.json", 200),
        ("DELETE", f"/api/v2/deleted_users/{user_id}.json", 204),
    ]
    assert zendesk.users == {} and zendesk.deleted == {}
    assert (record(connector).state, record(connector).external_id) == ({"erased": True}, "")


def test_an_erased_customer_the_connector_never_sent_is_found_by_external_id(zendesk, connector):
    before = zendesk.add_user(external_id="cus_1", email="ada@example.com", name="Ada")
    event_emit(type="customer.erased", payload={"customer": {"id": "cus_1"}}, customer_id="cus_1")

    ran(connector)

    search, *deletes = zendesk.calls
    assert (search.method, search.path, search.query) == ("GET", "/api/v2/users/search.json", {"external_id": "cus_1"})
    assert [c.path for c in deletes] == [
        f"/api/v2/users/{before['id']}.json",
        f"/api/v2/deleted_users/{before['id']}.json",
    ]
    assert zendesk.users == {}


def test_an_erasure_already_done_in_zendesk_is_harmless(zendesk, connector):
    customer()
    ran(connector)
    zendesk.users.clear()
    event_emit(type="customer.erased", payload={"customer": {"id": "cus_1"}}, customer_id="cus_1")

    ran(connector)

    assert [c.status for c in zendesk.calls[-2:]] == [404, 404]
    assert record(connector).state == {"erased": True}


# --- The admin -------------------------------------------------------------------------------------


def test_an_administrator_adds_a_zendesk_connector_with_write_only_credentials(client, zendesk, settled):
    administrator = sign_in_verified(client, staff_in_role("administrator"))
    form = administrator.get("/admin/integrations/connector/add/")
    assert b'name="credential_email"' in form.content and b'name="credential_api_token"' in form.content

    response = administrator.post(
        "/admin/integrations/connector/add/",
        {
            "kind": "zendesk",
            "name": "Support desk",
            "base_url": zendesk.base_url,
            "credential_email": AGENT_EMAIL,
            "credential_api_token": API_TOKEN,
        },
    )

    assert response.status_code == 302, response.content
    connector = Connector.objects.get()
    assert connector.credentials == {"email": AGENT_EMAIL, "api_token": API_TOKEN}
    page = administrator.get(f"/admin/integrations/connector/{connector.pk}/change/")
    assert API_TOKEN.encode() not in page.content and b"stored (hidden)" in page.content
    assert API_TOKEN not in audit_text()

    customer()
    listing = administrator.post(
        "/admin/integrations/connector/", {"action": "enable_selected", "_selected_action": [connector.pk]}
    )
    assert listing.status_code == 302
    page = administrator.post(
        "/admin/integrations/connector/", {"action": "run_now", "_selected_action": [connector.pk]}, follow=True
    )
    assert b"1 events" in page.content
    assert zendesk.by_external_id("cus_1") is not None
