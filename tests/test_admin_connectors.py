"""The connectors' admin: an administrator adds a HubSpot connector with a write-only token, sees
its health and cursor, enables it, runs it now, resets its back-off and disables it; every change is
audited without the token; other roles do not reach it."""

import pytest

from conftest import audit_text, sign_in_verified, staff_in_role
from integrations.connectors.services import connector_create
from integrations.models import Connector
from integrations.services import event_emit
from integrations.tests.hubspot_server import TOKEN, HubSpotServer

pytestmark = pytest.mark.django_db

LIST = "/admin/integrations/connector/"


@pytest.fixture
def administrator(client):
    return sign_in_verified(client, staff_in_role("administrator"))


@pytest.fixture
def hubspot(httpserver, settings):
    settings.CONNECTOR_SETTLE_SECONDS = 0
    return HubSpotServer().install(httpserver)


def act(client, action: str, connector: Connector):
    return client.post(LIST, {"action": action, "_selected_action": [connector.pk]}, follow=True)


def test_an_administrator_adds_a_hubspot_connector_and_the_token_is_never_shown(administrator, hubspot):
    form = administrator.get(f"{LIST}add/")
    assert form.status_code == 200
    assert b'name="credential_access_token"' in form.content

    response = administrator.post(
        f"{LIST}add/",
        {"kind": "hubspot", "name": "CRM", "base_url": hubspot.base_url, "credential_access_token": TOKEN},
    )

    assert response.status_code == 302, response.content
    connector = Connector.objects.get()
    assert connector.credentials == {"access_token": TOKEN}
    assert connector.settings["base_url"] == hubspot.base_url
    assert (connector.enabled, connector.status) == (False, "disabled")
    page = administrator.get(f"{LIST}{connector.pk}/change/")
    assert page.status_code == 200
    assert TOKEN.encode() not in page.content
    assert b"stored (hidden)" in page.content
    assert b"before the first event" in page.content
    assert TOKEN not in audit_text()
    assert "connector.created outcome=succeeded" in audit_text()


def test_a_blank_token_keeps_the_stored_one(administrator, hubspot):
    connector = connector_create(kind="hubspot", name="CRM", credentials={"access_token": TOKEN})

    response = administrator.post(
        f"{LIST}{connector.pk}/change/",
        {"name": "HubSpot CRM", "base_url": hubspot.base_url, "credential_access_token": ""},
    )

    assert response.status_code == 302, response.content
    saved = Connector.objects.get()
    assert (saved.name, saved.credentials) == ("HubSpot CRM", {"access_token": TOKEN})


def test_enable_run_now_reset_and_disable_from_the_list(administrator, hubspot):
    connector = connector_create(
        kind="hubspot", name="CRM", credentials={"access_token": TOKEN}, settings={"base_url": hubspot.base_url}
    )
    event_emit(
        type="customer.created",
        payload={"customer": {"id": "cus_1", "email": "ada@example.com", "name": "Ada", "country": "DE"}},
        customer_id="cus_1",
    )

    act(administrator, "enable_selected", connector)
    assert Connector.objects.get().enabled is True

    hubspot.fail_next(429, retry_after="120")
    page = act(administrator, "run_now", connector)
    assert b"429" in page.content
    failing = Connector.objects.get()
    assert failing.status == "failing" and failing.next_attempt_at is not None
    listing = administrator.get(LIST)
    assert b"failing" in listing.content and b"rate limit" in listing.content

    act(administrator, "reset_backoff", connector)
    assert Connector.objects.get().next_attempt_at is None
    page = act(administrator, "run_now", connector)
    assert b"1 events" in page.content
    assert hubspot.by_email("ada@example.com") is not None
    assert Connector.objects.get().status == "ok"

    act(administrator, "disable_selected", connector)
    assert (Connector.objects.get().enabled, Connector.objects.get().status) == (False, "disabled")
    assert "connector.run_now" in audit_text()


@pytest.mark.parametrize("role", ["support", "finance", "marketing", "catalogue"])
def test_other_roles_do_not_reach_connectors(client, role):
    sign_in_verified(client, staff_in_role(role))
    assert client.get(LIST).status_code == 403
