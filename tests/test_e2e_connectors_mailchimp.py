"""A subscriber's whole life lands in Mailchimp as Mailchimp expects, once and in order: created by
the operator's API, a trial with a card, the paid first invoice at the trial's end, a failed renewal
(past due), recovered by a new card, a coupon redeemed, canceled, refunded. Driven over HTTP and
`run_billing --as-of`, the connector run as its schedule would after each step, against a local
Mailchimp-shaped server: one member (the MD5 of the lower-cased email), its merge fields in the
order the facts changed, its lifecycle tags moving one at a time, "coupon used" once, nothing sent
twice; a second connector that runs only once at the end sends exactly the same calls."""

import hashlib

import pytest

from integrations.connectors.services import connector_create, connector_run
from integrations.models import ConnectorRecord
from integrations.tests.mailchimp_server import API_KEY, LIST_ID, MailchimpServer
from tests.connector_life_helpers import TRIAL_END, fixture_billing, fixture_trial_plan, subscriber_life  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

LIFECYCLE = ("trialing", "active", "past_due", "canceled")


def mailchimp_connector(server: MailchimpServer, name: str):
    return connector_create(
        kind="mailchimp",
        name=name,
        credentials={"api_key": API_KEY},
        settings={"base_url": server.base_url, "list_id": LIST_ID},
        enabled=True,
    )


def steps(server: MailchimpServer) -> list[tuple]:
    """What each accepted call told Mailchimp: ("member", status, MRR, lifetime value, trial end?) or
    ("tags", the lifecycle tag made active or None, other tags made active)."""
    told = []
    for call in server.sent():
        if call.method == "PUT":
            fields = call.body["merge_fields"]
            told.append(("member", fields["MMSTATUS"], fields["MMMRR"], fields["MMLTV"], fields["MMTRIALEND"] != ""))
        elif call.path.endswith("/tags"):
            active = [tag["name"] for tag in call.body["tags"] if tag["status"] == "active"]
            lifecycle = [name for name in active if name in LIFECYCLE]
            told.append(("tags", *lifecycle, *[name for name in active if name not in LIFECYCLE]))
        else:
            told.append((call.method, call.path))
    return told


def test_a_subscribers_whole_life_lands_in_mailchimp_once_and_in_order(billing, httpserver, trial_plan):
    live = MailchimpServer().install(httpserver)
    later = MailchimpServer().install(httpserver, prefix="/later")
    every_minute = mailchimp_connector(live, "Newsletter")
    once_at_the_end = mailchimp_connector(later, "Newsletter (caught up later)")

    def scheduled(step, life):
        result = connector_run(connector=every_minute)
        assert result.error == "", result.error

    customer = subscriber_life(billing, trial_plan, after=scheduled, redeem_coupon=True).customer

    # One member, keyed by the MD5 of the lower-cased email, every call with the key as Basic auth.
    member_hash = hashlib.md5(b"ada@example.com").hexdigest()
    member_path = f"/lists/{LIST_ID}/members/{member_hash}"
    assert list(live.members) == [member_hash]
    assert {(c.method, c.path) for c in live.calls} == {("PUT", member_path), ("POST", f"{member_path}/tags")}
    assert all(c.status in (200, 204) for c in live.calls)  # nothing refused, nothing retried
    assert len({c.authorization for c in live.calls}) == 1 and live.calls[0].authorization.startswith("Basic ")
    assert ConnectorRecord.objects.get(connector=every_minute, object_id=customer.pk).external_id == member_hash

    # Each change once, in the order it happened: the fields before the tags of the same event.
    assert steps(live) == [
        ("member", "none", "0", "0", False),
        ("member", "trialing", "0", "0", True),
        ("tags", "trialing"),
        (
            "member",
            "trialing",
            "0",
            "9.99",
            True,
        ),  # the first invoice is paid a moment before the subscription moves on
        ("member", "active", "9.99", "9.99", True),
        ("tags", "active"),
        ("member", "past_due", "9.99", "9.99", True),
        ("tags", "past_due"),
        ("member", "past_due", "9.99", "19.98", True),
        ("member", "active", "9.99", "19.98", True),
        ("tags", "active"),
        ("tags", "coupon used"),
        ("member", "canceled", "0", "19.98", True),
        ("tags", "canceled"),
        ("member", "canceled", "0", "15.98", True),
    ]
    # Each lifecycle change names all four tags: exactly one active.
    for call in live.sent("POST"):
        names = {tag["name"] for tag in call.body["tags"]}
        assert names in ({*LIFECYCLE}, {"coupon used"})
    member = live.members[member_hash]
    assert (member.email_address, member.status, member.tags) == (
        "ada@example.com",
        "transactional",
        {"canceled", "coupon used"},
    )
    assert member.merge_fields["MMPLAN"] == "stream-monthly"
    assert member.merge_fields["MMCURRENCY"] == "EUR" and member.merge_fields["MMCUSTID"] == customer.pk
    assert (member.merge_fields["FNAME"], member.merge_fields["LNAME"]) == ("Ada", "Lovelace")
    assert member.merge_fields["MMTRIALEND"] == TRIAL_END.date().isoformat()
    assert live.sent()[0].body["status_if_new"] == "transactional"
    assert "LOYAL20" not in str([c.body for c in live.calls])

    # A connector that catches up in one run sends the very same calls.
    assert connector_run(connector=once_at_the_end).error == ""
    assert [(c.method, c.path, c.body) for c in later.calls] == [(c.method, c.path, c.body) for c in live.calls]
