"""The Xero connector in the admin: an administrator adds one with its three write-only credentials,
then sets its tenant and mapping on the Xero mapping screen (account code per plan, tax type rules,
the payment account), which the service checks; the change is audited without any secret; other
roles do not reach the screen."""

import pytest

from conftest import audit_text, sign_in_verified, staff_in_role
from integrations.connectors.services import connector_create
from integrations.models import Connector
from integrations.services import event_emit
from integrations.tests.xero_server import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, TENANT_ID

pytestmark = pytest.mark.django_db

SCREEN = "/admin/integrations/xero-mapping/"
CONNECTORS = "/admin/integrations/connector/"


@pytest.fixture
def administrator(client):
    return sign_in_verified(client, staff_in_role("administrator"))


@pytest.fixture
def ledger(db):
    credentials = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
    return connector_create(kind="xero", name="Ledger", credentials=credentials)


def mapping_form(**overrides) -> dict:
    return {
        "tenant_id": TENANT_ID,
        "token_url": "",
        "default_account_code": "200",
        "plan_account_codes": "stream-monthly = 201\nstream-yearly = 202",
        "default_tax_type": "",
        "tax_types": "collecting DE 19% = OUTPUT2\nreverse_charge = ECOUTPUTSERVICES\nnot_registered = none",
        "payment_account_code": "090",
        **overrides,
    }


def test_an_administrator_adds_a_xero_connector_whose_credentials_are_never_shown(administrator):
    form = administrator.get(f"{CONNECTORS}add/")
    for name in ("client_id", "client_secret", "refresh_token"):
        assert f'name="credential_{name}"'.encode() in form.content

    response = administrator.post(
        f"{CONNECTORS}add/",
        {
            "kind": "xero",
            "name": "Ledger",
            "credential_client_id": CLIENT_ID,
            "credential_client_secret": CLIENT_SECRET,
            "credential_refresh_token": REFRESH_TOKEN,
        },
    )

    assert response.status_code == 302, response.content
    connector = Connector.objects.get()
    assert connector.credentials == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    assert connector.settings["base_url"] == "https://api.xero.com/api.xro/2.0"
    assert connector.settings["token_url"] == "https://identity.xero.com/connect/token"
    page = administrator.get(f"{CONNECTORS}{connector.pk}/change/")
    assert CLIENT_SECRET.encode() not in page.content and REFRESH_TOKEN.encode() not in page.content
    assert CLIENT_SECRET not in audit_text() and REFRESH_TOKEN not in audit_text()


def test_the_mapping_screen_saves_what_the_administrator_types_through_the_service(administrator, ledger):
    event_emit(type="plan.created", payload={"plan": {"id": "pln_1", "code": "stream-monthly", "name": "Monthly"}})
    page = administrator.get(SCREEN)  # the only Xero connector is chosen at once
    assert page.status_code == 200
    assert b'id="xero-mapping-form"' in page.content and b"stream-monthly" in page.content

    response = administrator.post(f"{SCREEN}?connector={ledger.pk}", mapping_form())

    assert response.status_code == 302, response.content
    saved = Connector.objects.get().settings
    assert saved["tenant_id"] == TENANT_ID
    assert saved["plan_account_codes"] == {"stream-monthly": "201", "stream-yearly": "202"}
    assert saved["tax_types"] == [
        {"tax_status": "collecting", "country": "DE", "rate": "0.19", "tax_type": "OUTPUT2"},
        {"tax_status": "reverse_charge", "country": "", "rate": "", "tax_type": "ECOUTPUTSERVICES"},
        {"tax_status": "not_registered", "country": "", "rate": "", "tax_type": "NONE"},
    ]
    assert (saved["default_account_code"], saved["payment_account_code"]) == ("200", "090")
    assert saved["token_url"] == "https://identity.xero.com/connect/token"
    assert "connector.updated outcome=succeeded" in audit_text() and "OUTPUT2" in audit_text()
    assert CLIENT_SECRET not in audit_text()

    again = administrator.get(f"{SCREEN}?connector={ledger.pk}")  # shown back as it was typed, normalized
    assert b"collecting DE 0.19 = OUTPUT2" in again.content and b"stream-yearly = 202" in again.content


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tax_types", "exempt = NONE", b"is not one of collecting"),
        ("tax_types", "collecting Germany = OUTPUT2", b"neither a country code nor a rate"),
        ("tax_types", "collecting DE 19%", b"write it as"),
        ("plan_account_codes", "stream-monthly = 201\nstream-monthly = 202", b"listed twice"),
        ("default_account_code", "200 Sales", b"is not a Xero account code"),  # the service's refusal
        ("tenant_id", "my-company", b"a UUID"),
        ("tax_types", "collecting DE 150% = OUTPUT2", b"between 0 and 1"),
    ],
)
def test_the_mapping_screen_shows_refusals_on_the_form_and_keeps_the_settings(
    administrator, ledger, field, value, message
):
    before = Connector.objects.get().settings

    response = administrator.post(f"{SCREEN}?connector={ledger.pk}", mapping_form(**{field: value}))

    assert response.status_code == 200
    assert message in response.content
    assert Connector.objects.get().settings == before


def test_with_several_xero_connectors_the_screen_asks_which(administrator, ledger):
    other = connector_create(kind="xero", name="Second ledger")
    connector_create(kind="hubspot", name="CRM")
    page = administrator.get(SCREEN)
    assert b'id="xero-connectors"' in page.content
    assert f"?connector={other.pk}".encode() in page.content and b"CRM" not in page.content
    assert administrator.get(f"{SCREEN}?connector=con_nope").status_code == 200


def test_the_index_lists_the_screen_for_administrators(administrator, ledger):
    assert SCREEN.encode() in administrator.get("/admin/").content


@pytest.mark.parametrize("role", ["support", "finance", "marketing", "catalogue"])
def test_other_roles_do_not_reach_the_mapping_screen(client, role, ledger):
    sign_in_verified(client, staff_in_role(role))
    assert client.get(SCREEN).status_code == 403
    assert client.post(f"{SCREEN}?connector={ledger.pk}", mapping_form()).status_code == 403
    assert "tenant_id" not in Connector.objects.get().settings
