"""The Mailchimp connector over HTTP against a local Mailchimp-shaped server: members by the MD5 of
the lower-cased email with HTTP Basic auth, merge fields and lifecycle tags sent once and only when
they change, "coupon used", a changed email (a new member, the old one archived), erasure (a
permanent delete of every member the customer was), Mailchimp's errors (401, 429 with and without
Retry-After, 404, Invalid Resource, the per-member refusals that are skipped), its settings (the
data center from the key, list_id required to enable, status_if_new) and its admin screen. Events
are written with event_emit, payloads shaped as the API shows them."""

import base64
import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conftest import audit_text, sign_in_verified, staff_in_role
from integrations.connectors.base import VendorUnauthorized
from integrations.connectors.mailchimp import base_url_for, subscriber_hash
from integrations.connectors.services import (
    connector_backoff_reset,
    connector_create,
    connector_enable,
    connector_run,
    connector_update,
)
from integrations.kernel.errors import InvalidRequest
from integrations.models import Connector, ConnectorRecord
from integrations.services import event_emit
from integrations.tests.mailchimp_server import API_KEY, LIST_ID, MailchimpServer, md5_of
from integrations.tests.outbox_events import customer, fixture_settled, refreshed, subscription  # noqa: F401 (fixture_settled)

pytestmark = pytest.mark.django_db

ADA = "ada@example.com"
ADA_HASH = hashlib.md5(b"ada@example.com").hexdigest()
MEMBER = f"/lists/{LIST_ID}/members/{ADA_HASH}"
LIFECYCLE = ("trialing", "active", "past_due", "canceled")


@pytest.fixture
def mailchimp(httpserver):
    return MailchimpServer().install(httpserver)


def mailchimp_connector(server: MailchimpServer, **settings):
    return connector_create(
        kind="mailchimp",
        name="Newsletter",
        credentials={"api_key": API_KEY},
        settings={"base_url": server.base_url, "list_id": LIST_ID, **settings},
        enabled=True,
    )


@pytest.fixture
def connector(mailchimp, settled):
    return mailchimp_connector(mailchimp)


def plan():
    payload = {"plan": {"id": "pln_1", "code": "stream-monthly", "name": "Streaming", "interval": "month"}}
    return event_emit(type="plan.created", payload=payload)


def coupon_redeemed(cid="cus_1", redemption="red_1"):
    payload = {"coupon": {"id": "cpn_1", "name": "Spring"}, "redemption": {"id": redemption}, "subscription": None}
    return event_emit(type="coupon.redeemed", payload=payload, customer_id=cid)


def record(cid="cus_1") -> ConnectorRecord:
    return ConnectorRecord.objects.get(object_type="customer", object_id=cid)


def tag_calls(server: MailchimpServer) -> list[dict]:
    """Each accepted tags call as {name: status}."""
    return [
        {tag["name"]: tag["status"] for tag in call.body["tags"]}
        for call in server.sent("POST")
        if call.path.endswith("/tags")
    ]


def lifecycle_of(tags: dict) -> list[str]:
    return [name for name in LIFECYCLE if tags.get(name) == "active"]


# --- Members, merge fields and tags -----------------------------------------------------------


def test_a_customer_becomes_a_member_keyed_by_the_md5_of_the_lower_cased_email(mailchimp, connector):
    plan()
    customer()

    result = connector_run(connector=connector)

    assert (result.handled, result.error) == (2, "")
    (call,) = mailchimp.calls
    assert (call.method, call.path, call.status) == ("PUT", MEMBER, 200)
    assert subscriber_hash("  ADA@example.COM ") == ADA_HASH == md5_of(ADA)
    scheme, _, encoded = call.authorization.partition(" ")
    assert scheme == "Basic" and base64.b64decode(encoded).decode().partition(":")[2] == API_KEY
    assert call.body == {
        "email_address": ADA,
        "status_if_new": "transactional",
        "merge_fields": {
            "FNAME": "Ada",
            "LNAME": "Lovelace",
            "MMCUSTID": "cus_1",
            "MMSTATUS": "none",
            "MMPLAN": "",
            "MMMRR": "0",
            "MMCURRENCY": "EUR",
            "MMTRIALEND": "",
            "MMLTV": "0",
            "MMCOUNTRY": "DE",
        },
    }
    member = mailchimp.member(ADA)
    assert (member.status, member.tags) == ("transactional", set())
    assert record().external_id == ADA_HASH
    assert connector_run(connector=connector).handled == 0
    assert len(mailchimp.calls) == 1


def test_the_lifecycle_moves_one_tag_at_a_time_and_each_change_is_sent_once(mailchimp, connector):
    plan()
    customer()
    trial = "2030-01-17T12:00:00+00:00"
    subscription("trialing", trial_end=trial, type_="subscription.created")
    event_emit(type="payment_method.attached", payload={"payment_method": {"id": "pm_1"}}, customer_id="cus_1")
    subscription("active", trial_end=trial, type_="subscription.activated")
    subscription("active", trial_end=trial, type_="subscription.renewed")  # nothing Mailchimp shows changes
    subscription("past_due", trial_end=trial)
    subscription("active", trial_end=trial, type_="subscription.updated")
    subscription("canceled", trial_end=trial)

    assert connector_run(connector=connector).error == ""

    puts = [c.body["merge_fields"] for c in mailchimp.sent("PUT")]
    assert [(m["MMSTATUS"], m["MMMRR"], m["MMTRIALEND"]) for m in puts] == [
        ("none", "0", ""),
        ("trialing", "0", "2030-01-17"),
        ("active", "9.99", "2030-01-17"),
        ("past_due", "9.99", "2030-01-17"),
        ("active", "9.99", "2030-01-17"),
        ("canceled", "0", "2030-01-17"),
    ]
    assert puts[-1]["MMPLAN"] == "stream-monthly"
    tags = tag_calls(mailchimp)
    assert [lifecycle_of(t) for t in tags] == [["trialing"], ["active"], ["past_due"], ["active"], ["canceled"]]
    assert all(set(t) == set(LIFECYCLE) for t in tags)  # the other three are made inactive each time
    assert {c.path for c in mailchimp.sent("POST")} == {f"{MEMBER}/tags"}
    assert mailchimp.member(ADA).tags == {"canceled"}
    # PUT then tags, per event: the member's fields change before its tags.
    assert [c.method for c in mailchimp.calls] == ["PUT"] + ["PUT", "POST"] * 5


def test_a_redeemed_coupon_adds_the_coupon_used_tag_once(mailchimp, connector):
    customer()
    subscription("active")
    coupon_redeemed()
    coupon_redeemed(redemption="red_2")
    connector_run(connector=connector)

    assert tag_calls(mailchimp) == [
        {"trialing": "inactive", "active": "active", "past_due": "inactive", "canceled": "inactive"},
        {"coupon used": "active"},
    ]
    assert len(mailchimp.sent("PUT")) == 2  # the coupon changes no merge field
    assert mailchimp.member(ADA).tags == {"active", "coupon used"}


def test_the_subscribed_setting_makes_new_members_subscribed(mailchimp, settled):
    connector = mailchimp_connector(mailchimp, status_if_new="subscribed")
    customer()
    connector_run(connector=connector)

    assert mailchimp.sent("PUT")[0].body["status_if_new"] == "subscribed"
    assert mailchimp.member(ADA).status == "subscribed"


def test_a_changed_email_moves_to_a_new_member_keeping_status_and_tags_and_archives_the_old(mailchimp, connector):
    customer()
    subscription("active")
    coupon_redeemed()
    connector_run(connector=connector)
    mailchimp.member(ADA).status = "subscribed"  # they opted in from a Mailchimp form meanwhile
    customer(email="Ada@Lovelace.example", type_="customer.updated")

    assert connector_run(connector=connector).error == ""

    new_hash = md5_of("ada@lovelace.example")
    read, put, archive, tags = mailchimp.calls[-4:]
    assert (read.method, read.path, read.status) == ("GET", MEMBER, 200)  # its status now, not when last sent
    assert (put.method, put.path) == ("PUT", f"/lists/{LIST_ID}/members/{new_hash}")
    assert put.body["email_address"] == "ada@lovelace.example"
    assert put.body["status_if_new"] == "subscribed"  # the same person at a new address
    assert (tags.path, lifecycle_of(tag_calls(mailchimp)[-1])) == (
        f"/lists/{LIST_ID}/members/{new_hash}/tags",
        ["active"],
    )
    assert tag_calls(mailchimp)[-1]["coupon used"] == "active"
    assert (archive.method, archive.path, archive.status) == ("DELETE", MEMBER, 204)
    assert mailchimp.members[ADA_HASH].archived is True
    moved = mailchimp.members[new_hash]
    assert (moved.status, moved.tags, moved.archived) == ("subscribed", {"active", "coupon used"}, False)
    assert record().external_id == new_hash and record().state["archived"] == [ADA_HASH]


def test_an_unsubscribed_member_stays_unsubscribed_at_a_new_address(mailchimp, connector):
    customer()
    connector_run(connector=connector)
    mailchimp.member(ADA).status = "unsubscribed"  # they unsubscribed from a campaign
    customer(email="ada@lovelace.example", type_="customer.updated")
    connector_run(connector=connector)

    assert mailchimp.sent("PUT")[-1].body["status_if_new"] == "unsubscribed"
    assert mailchimp.member("ada@lovelace.example").status == "unsubscribed"


def test_an_erased_customer_is_deleted_for_good_at_every_address_and_forgotten(mailchimp, connector):
    customer()
    connector_run(connector=connector)
    customer(email="ada@lovelace.example", type_="customer.updated")
    connector_run(connector=connector)
    event_emit(type="customer.erased", payload={"customer": {"id": "cus_1", "email": None}}, customer_id="cus_1")
    subscription("canceled")

    assert connector_run(connector=connector).error == ""

    deletes = [c for c in mailchimp.calls if c.path.endswith("/actions/delete-permanent")]
    assert sorted(c.path for c in deletes) == sorted(
        f"/lists/{LIST_ID}/members/{h}/actions/delete-permanent" for h in (ADA_HASH, md5_of("ada@lovelace.example"))
    )
    assert all(c.method == "POST" and c.body is None and c.status == 204 for c in deletes)
    assert mailchimp.members == {}
    assert mailchimp.calls[-1] in deletes  # the canceled subscription after it sends nothing
    assert (record().state, record().external_id) == ({"erased": True}, "")


def test_an_erased_customer_whose_member_is_gone_already_is_erased_all_the_same(mailchimp, connector):
    customer()
    connector_run(connector=connector)
    mailchimp.members.clear()
    event_emit(type="customer.erased", payload={"customer": {"id": "cus_1"}}, customer_id="cus_1")

    assert connector_run(connector=connector).error == ""
    assert mailchimp.calls[-1].status == 404 and record().state == {"erased": True}


# --- Errors as Mailchimp gives them ------------------------------------------------------------


def test_a_429_with_retry_after_waits_exactly_that_and_sends_the_same_event_again(mailchimp, connector):
    customer()
    mailchimp.fail_next(429, retry_after="7")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        result = connector_run(connector=connector)
        failing = refreshed(connector)
        assert "429" in result.error and "retry after 7s" in failing.last_error
        assert failing.next_attempt_at == timezone.now() + timedelta(seconds=7)
        clock.shift(timedelta(seconds=6))
        assert connector_run(connector=connector).skipped == "not due"
        clock.shift(timedelta(seconds=1))
        assert connector_run(connector=connector).handled == 1
    assert [c.status for c in mailchimp.calls] == [429, 200]
    assert mailchimp.calls[0].body == mailchimp.calls[1].body


def test_a_429_without_retry_after_backs_off_as_the_framework_does(mailchimp, connector):
    customer()
    mailchimp.fail_next(429)
    with time_machine.travel(timezone.now(), tick=False):
        connector_run(connector=connector)
        failing = refreshed(connector)
        assert failing.next_attempt_at == timezone.now() + timedelta(seconds=30)
        assert "429" in failing.last_error and "retry after" not in failing.last_error


def test_a_failed_tags_call_sends_the_whole_event_again_and_nothing_is_lost(mailchimp, connector):
    customer()
    connector_run(connector=connector)
    subscription("trialing")
    original = mailchimp._tags
    calls = {"n": 0}

    def flaky(member_hash, body):
        calls["n"] += 1
        if calls["n"] == 1:
            return mailchimp._problem(500, "Internal Server Error", "An unexpected internal error has occurred.")
        return original(member_hash, body)

    mailchimp._tags = flaky
    assert "500" in connector_run(connector=connector).error
    connector_backoff_reset(connector=connector)
    assert connector_run(connector=connector).error == ""

    assert [(c.method, c.status) for c in mailchimp.calls[1:]] == [
        ("PUT", 200),
        ("POST", 500),
        ("PUT", 200),
        ("POST", 204),
    ]
    assert mailchimp.member(ADA).tags == {"trialing"}
    assert record().state["tags"] == {"lifecycle": "trialing", "coupon": False}


def test_a_401_marks_the_connector_failing_without_showing_the_key(mailchimp, connector):
    Connector.objects.filter(pk=connector.pk).update(credentials={"api_key": "ffffffffffffffffffffffffffffffff-us21"})
    customer()
    result = connector_run(connector=connector)

    failing = refreshed(connector)
    assert "401" in result.error and "API Key Invalid" in failing.last_error
    assert failing.status == "failing" and failing.cursor_created_at is None
    assert "ffffffff" not in failing.last_error and API_KEY not in failing.last_error
    assert mailchimp.members == {}


def test_an_unknown_audience_is_a_clear_error_that_holds_the_connector(mailchimp, settled):
    connector = mailchimp_connector(mailchimp, list_id="zzzz999999")
    customer()
    result = connector_run(connector=connector)

    assert "404 Resource Not Found" in result.error and "list_id" in result.error
    assert refreshed(connector).status == "failing"


def test_a_merge_field_missing_in_the_audience_is_named_in_the_error(mailchimp, connector):
    mailchimp.merge_tags.discard("MMLTV")
    customer()
    result = connector_run(connector=connector)

    assert "400 Invalid Resource" in result.error and "MMLTV" in result.error
    mailchimp.merge_tags.add("MMLTV")  # the operator creates it
    connector_backoff_reset(connector=connector)
    assert connector_run(connector=connector).handled == 1


def test_a_member_in_compliance_state_is_recorded_and_skipped_and_others_go_on(mailchimp, connector):
    mailchimp.in_compliance.add(ADA_HASH)
    customer()
    customer(cid="cus_2", email="grace@example.com", name="Grace Hopper")
    subscription("renewed", type_="subscription.renewed", sid="sub_x", cid="cus_3")  # unknown customer: no email

    result = connector_run(connector=connector)

    assert (result.error, refreshed(connector).status) == ("", "ok")
    assert [c.status for c in mailchimp.calls] == [400, 200]
    refused = record().state["refused"]
    assert (refused["hash"], refused["title"]) == (ADA_HASH, "Member In Compliance State")
    assert ADA not in refused["detail"] and "<email>" in refused["detail"]
    assert record().external_id == ""
    assert mailchimp.member("grace@example.com") is not None

    coupon_redeemed()  # nothing new to put, and no tags for a refused member
    connector_run(connector=connector)
    assert len(mailchimp.calls) == 2

    mailchimp.in_compliance.clear()  # they subscribed again in Mailchimp
    subscription("active")
    connector_run(connector=connector)
    assert [c.status for c in mailchimp.calls[2:]] == [200, 204]
    assert "refused" not in record().state and record().external_id == ADA_HASH
    assert mailchimp.member(ADA).tags == {"active", "coupon used"}


def test_a_forgotten_email_is_recorded_and_erasure_still_deletes_it(mailchimp, connector):
    mailchimp.forgotten.add(ADA_HASH)
    customer()
    connector_run(connector=connector)

    assert record().state["refused"]["title"] == "Forgotten Email Not Subscribed"
    assert refreshed(connector).status == "ok"
    event_emit(type="customer.erased", payload={"customer": {"id": "cus_1"}}, customer_id="cus_1")
    connector_run(connector=connector)
    assert mailchimp.calls[-1].path == f"{MEMBER}/actions/delete-permanent"
    assert record().state == {"erased": True}


# --- Settings ----------------------------------------------------------------------------------


def test_the_default_base_url_is_the_data_center_the_key_ends_in():
    assert base_url_for(api_key="0123abcd-us21") == "https://us21.api.mailchimp.com/3.0"
    assert base_url_for(api_key="0123abcd-us21", base_url="http://127.0.0.1:9/3.0/") == "http://127.0.0.1:9/3.0"
    for key in ("0123abcd", "0123abcd-", "0123abcd-evil.example/x", "0123abcd-US21"):
        with pytest.raises(VendorUnauthorized, match="data center"):
            base_url_for(api_key=key)


def test_a_key_without_a_data_center_and_no_base_url_stops_the_run_with_a_clear_error(settled):
    connector = connector_create(
        kind="mailchimp", name="Newsletter", credentials={"api_key": "nodatacenter"}, settings={"list_id": LIST_ID}
    )
    connector_enable(connector=connector)
    customer()
    result = connector_run(connector=connector)
    assert "data center" in result.error and "nodatacenter" not in result.error


def test_enabling_needs_the_audience_and_status_if_new_is_transactional_or_subscribed(mailchimp, settled):
    connector = connector_create(kind="mailchimp", name="Newsletter", credentials={"api_key": API_KEY})
    assert connector.settings == {"base_url": "", "list_id": "", "status_if_new": "transactional"}
    with pytest.raises(InvalidRequest) as refused:
        connector_enable(connector=connector)
    assert (refused.value.code, refused.value.param) == ("parameter_missing", "list_id")
    assert "audience" in refused.value.message
    assert refreshed(connector).enabled is False

    with pytest.raises(InvalidRequest) as refused:
        connector_update(connector=connector, settings={"status_if_new": "pending"})
    assert refused.value.param == "status_if_new"
    with pytest.raises(InvalidRequest) as refused:
        connector_update(connector=connector, settings={"list_id": "../../x"})
    assert refused.value.param == "list_id"

    connector_update(connector=connector, settings={"list_id": LIST_ID, "base_url": mailchimp.base_url})
    assert connector_enable(connector=connector).enabled is True
    with pytest.raises(InvalidRequest):
        connector_update(connector=connector, settings={"list_id": ""})  # not while it is enabled
    assert refreshed(connector).settings["list_id"] == LIST_ID


# --- The admin ---------------------------------------------------------------------------------

LIST = "/admin/integrations/connector/"


@pytest.fixture
def administrator(client):
    return sign_in_verified(client, staff_in_role("administrator"))


def test_an_administrator_sets_up_mailchimp_with_its_audience_and_a_hidden_key(administrator, mailchimp, settled):
    form = administrator.get(f"{LIST}add/")
    assert b'name="credential_api_key"' in form.content and b'name="setting_list_id"' in form.content

    response = administrator.post(
        f"{LIST}add/",
        {"kind": "mailchimp", "name": "Newsletter", "base_url": mailchimp.base_url, "credential_api_key": API_KEY},
    )
    assert response.status_code == 302, response.content
    connector = Connector.objects.get()
    assert connector.settings == {"base_url": mailchimp.base_url, "list_id": "", "status_if_new": "transactional"}

    refused = administrator.post(LIST, {"action": "enable_selected", "_selected_action": [connector.pk]}, follow=True)
    assert b"list_id" in refused.content and refreshed(connector).enabled is False

    page = administrator.get(f"{LIST}{connector.pk}/change/")
    assert API_KEY.encode() not in page.content and b'name="setting_status_if_new"' in page.content
    saved = administrator.post(
        f"{LIST}{connector.pk}/change/",
        {
            "name": "Newsletter",
            "base_url": mailchimp.base_url,
            "setting_list_id": LIST_ID,
            "setting_status_if_new": "subscribed",
            "credential_api_key": "",
        },
    )
    assert saved.status_code == 302, saved.content
    assert refreshed(connector).settings["list_id"] == LIST_ID
    assert refreshed(connector).credentials == {"api_key": API_KEY}

    administrator.post(LIST, {"action": "enable_selected", "_selected_action": [connector.pk]}, follow=True)
    customer()
    ran = administrator.post(LIST, {"action": "run_now", "_selected_action": [connector.pk]}, follow=True)
    assert b"1 events" in ran.content
    assert mailchimp.member(ADA).status == "subscribed"
    assert API_KEY not in audit_text() and "connector.updated" in audit_text()


def test_a_bad_status_if_new_in_the_admin_is_shown_on_the_form(administrator, mailchimp, settled):
    connector = mailchimp_connector(mailchimp)
    response = administrator.post(
        f"{LIST}{connector.pk}/change/",
        {"name": "Newsletter", "setting_list_id": LIST_ID, "setting_status_if_new": "pending"},
        follow=True,
    )
    assert b"The status of new members (status_if_new) is transactional" in response.content
    assert refreshed(connector).settings["status_if_new"] == "transactional"
