"""A subscriber's whole life lands in HubSpot as HubSpot expects, once and in order: created by the
operator's API, a trial with a card, the paid first invoice at the trial's end, a failed renewal
(past due), recovered by a new card, canceled, refunded. Driven over HTTP and `run_billing
--as-of`, the connector run as its schedule would after each step, against a local HubSpot-shaped
server; a second connector that runs only once at the end sends exactly the same calls."""

import pytest

from integrations.connectors.services import connector_create, connector_run
from integrations.models import ConnectorRecord
from integrations.tests.hubspot_server import TOKEN, HubSpotServer
from tests.connector_life_helpers import TRIAL_END, fixture_billing, fixture_trial_plan, subscriber_life  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def hubspot_connector(server: HubSpotServer, name: str):
    return connector_create(
        kind="hubspot",
        name=name,
        credentials={"access_token": TOKEN},
        settings={"base_url": server.base_url},
        enabled=True,
    )


def sent_properties(server: HubSpotServer) -> list[dict]:
    properties = []
    for call in server.sent():
        body = call.body["inputs"][0]["properties"] if call.method == "POST" else call.body["properties"]
        properties.append(body)
    return properties


def test_a_subscribers_whole_life_lands_in_hubspot_once_and_in_order(billing, httpserver, trial_plan):
    live = HubSpotServer().install(httpserver)
    later = HubSpotServer().install(httpserver, prefix="/later")
    every_minute = hubspot_connector(live, "CRM")
    once_at_the_end = hubspot_connector(later, "CRM (caught up later)")

    def scheduled(step, life):
        result = connector_run(connector=every_minute)
        assert result.error == "", result.error

    customer = subscriber_life(billing, trial_plan, after=scheduled).customer

    # One contact, keyed by the lower-cased email, updated by its HubSpot id after the first upsert.
    assert len(live.contacts) == 1
    contact_id, contact = next(iter(live.contacts.items()))
    first, *rest = live.sent()
    assert (first.method, first.path, first.body["inputs"][0]["id"]) == (
        "POST",
        "/crm/v3/objects/contacts/batch/upsert",
        "ada@example.com",
    )
    assert {(call.method, call.path) for call in rest} == {("PATCH", f"/crm/v3/objects/contacts/{contact_id}")}
    assert all(call.authorization == f"Bearer {TOKEN}" for call in live.calls)
    assert ConnectorRecord.objects.get(connector=every_minute, object_id=customer.pk).external_id == contact_id

    # Each change once, in the order it happened.
    facts = [
        (p["mm_subscription_status"], p["mm_mrr"], p["mm_lifetime_value"], p["mm_trial_end"] != "")
        for p in sent_properties(live)
    ]
    deduplicated = [fact for i, fact in enumerate(facts) if i == 0 or fact != facts[i - 1]]
    assert deduplicated == [
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
    assert len(sent_properties(live)) == len(deduplicated)  # nothing is sent twice
    assert contact["mm_plan"] == "stream-monthly"
    assert contact["mm_currency"] == "EUR"
    assert contact["mm_customer_id"] == customer.pk
    assert (contact["firstname"], contact["lastname"], contact["country"]) == ("Ada", "Lovelace", "DE")
    assert contact["mm_trial_end"].startswith(TRIAL_END.date().isoformat())

    # A connector that catches up in one run sends the very same calls.
    assert connector_run(connector=once_at_the_end).error == ""
    assert sent_properties(later) == sent_properties(live)
    assert [(c.method, c.path) for c in later.sent()] == [(c.method, c.path) for c in live.sent()]
