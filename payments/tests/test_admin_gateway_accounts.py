"""The Django admin's gateway account screens: the routing table (in routing order, always), and
adding and changing an account through the services, its credentials write-only and stored
encrypted, invalid countries and currencies shown as form errors, and no delete."""

import re

import pytest
from django.db import connection

from integrations.models import Event
from payments.models import GatewayAccount
from payments.tests.admin_helpers import GATEWAYS, _listed
from payments.tests.factories import sandbox_account

pytestmark = pytest.mark.django_db


def _form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def _raw_credentials(account_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM payments_gatewayaccount WHERE id = %s", [account_id])
        return cursor.fetchone()[0]


def _password_inputs(html: str) -> list[str]:
    return re.findall(r"<input[^>]*type=\"password\"[^>]*>", html)


# --- Gateway accounts: the routing table ----------------------------------------------------------


def test_gateway_account_changelist_lists_accounts_in_routing_order(superuser_client):
    late = sandbox_account(display_name="Fallback", priority=50)
    first = sandbox_account(display_name="Primary", priority=10, countries=["DE", "AT"], currencies=["EUR"])

    response = superuser_client.get(GATEWAYS)

    assert response.status_code == 200
    assert _listed(response) == [first.pk, late.pk]
    assert b"DE, AT" in response.content
    assert b"Routing:" in response.content


def test_gateway_account_changelist_says_all_for_an_account_without_limits(superuser_client):
    sandbox_account(display_name="Everywhere")

    content = superuser_client.get(GATEWAYS).content.decode()

    assert '<td class="field-countries_served">all</td>' in content
    assert '<td class="field-currencies_served">all enabled</td>' in content


def test_gateway_account_changelist_cannot_be_resorted_away_from_routing_order(superuser_client):
    late = sandbox_account(display_name="A late one", priority=50)
    first = sandbox_account(display_name="Z first one", priority=10)

    response = superuser_client.get(GATEWAYS, {"o": "1"})  # "sort by the first column" is ignored

    assert _listed(response) == [first.pk, late.pk]


# --- Gateway accounts: add and change through the services ----------------------------------------


def _add_gateway(client, **overrides):
    data = {
        "provider": "sandbox",
        "display_name": "Sandbox EU",
        "countries": "de, at",
        "currencies": "eur",
        "priority": "5",
        "active": "on",
        "credential_secret_key": "sk_typed_in_the_admin_0123456789",
        "credential_publishable_key": "",
    }
    data.update(overrides)
    return client.post(f"{GATEWAYS}add/", data)


def test_gateway_account_add_form_answers_200_with_empty_password_fields(superuser_client):
    response = superuser_client.get(f"{GATEWAYS}add/")

    assert response.status_code == 200
    inputs = _password_inputs(response.content.decode())
    assert any('name="credential_secret_key"' in tag for tag in inputs)
    assert all("value=" not in tag for tag in inputs)


def test_add_gateway_account_creates_it_through_the_service(superuser_client):
    response = _add_gateway(superuser_client)

    assert response.status_code == 302
    account = GatewayAccount.objects.get()
    assert (account.provider, account.display_name, account.countries, account.currencies, account.priority) == (
        "sandbox",
        "Sandbox EU",
        ["DE", "AT"],
        ["EUR"],
        5,
    )
    assert account.credentials["secret_key"] == "sk_typed_in_the_admin_0123456789"
    assert account.credentials["publishable_key"].startswith("pk_sandbox_")  # blank: the gateway's default
    assert Event.objects.get(type="gateway_account.created").payload["gateway_account"]["id"] == account.pk


def test_add_gateway_account_stores_the_credentials_encrypted(superuser_client):
    _add_gateway(superuser_client)

    account = GatewayAccount.objects.get()
    raw = _raw_credentials(account.pk)
    assert raw
    assert "sk_typed_in_the_admin_0123456789" not in raw
    assert account.credentials["publishable_key"] not in raw
    assert "secret_key" not in raw


def test_gateway_account_change_page_does_not_contain_the_stored_secret(superuser_client):
    account = sandbox_account(credentials={"secret_key": "sk_stored_secret_must_not_show_42"})

    response = superuser_client.get(f"{GATEWAYS}{account.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "sk_stored_secret_must_not_show_42" not in html
    inputs = _password_inputs(html)
    assert any('name="credential_secret_key"' in tag for tag in inputs)
    assert all("value=" not in tag for tag in inputs)


def test_gateway_account_change_page_shows_the_publishable_key_read_only(superuser_client):
    account = sandbox_account()

    html = superuser_client.get(f"{GATEWAYS}{account.pk}/change/").content.decode()

    assert account.credentials["publishable_key"] in html
    assert "stored (hidden)" in html


def test_gateway_account_change_page_shows_countries_and_currencies_as_text(superuser_client):
    account = sandbox_account(countries=["DE", "AT"], currencies=["EUR", "CHF"])

    html = superuser_client.get(f"{GATEWAYS}{account.pk}/change/").content.decode()

    assert 'name="countries" value="DE, AT"' in html
    assert 'name="currencies" value="EUR, CHF"' in html


def test_change_gateway_account_with_blank_credentials_keeps_the_stored_ones(superuser_client):
    account = sandbox_account(credentials={"secret_key": "sk_keep_me_0123456789"})
    publishable = account.credentials["publishable_key"]
    data = {
        "display_name": "Renamed",
        "countries": "",
        "currencies": "",
        "priority": "100",
        "active": "on",
        "credential_secret_key": "",
        "credential_publishable_key": "",
    }

    response = superuser_client.post(f"{GATEWAYS}{account.pk}/change/", data)

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.display_name == "Renamed"
    assert account.credentials == {"secret_key": "sk_keep_me_0123456789", "publishable_key": publishable}


def test_change_gateway_account_with_a_new_secret_replaces_only_that_one(superuser_client):
    account = sandbox_account(credentials={"secret_key": "sk_old_0123456789"})
    publishable = account.credentials["publishable_key"]
    data = {
        "display_name": "Sandbox",
        "countries": "",
        "currencies": "",
        "priority": "100",
        "active": "on",
        "credential_secret_key": "sk_new_9876543210",
    }

    response = superuser_client.post(f"{GATEWAYS}{account.pk}/change/", data)

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"secret_key": "sk_new_9876543210", "publishable_key": publishable}
    assert "sk_new_9876543210" not in _raw_credentials(account.pk)
    assert Event.objects.filter(type="gateway_account.updated").count() == 1


def test_change_gateway_account_countries_goes_through_the_service(superuser_client):
    account = sandbox_account()
    data = {"display_name": "Sandbox", "countries": "jp", "currencies": "jpy", "priority": "7", "active": ""}

    response = superuser_client.post(f"{GATEWAYS}{account.pk}/change/", data)

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.countries, account.currencies, account.priority, account.active) == (["JP"], ["JPY"], 7, False)
    assert Event.objects.get(type="gateway_account.updated").payload["gateway_account"]["countries"] == ["JP"]


def test_add_gateway_account_with_unknown_country_shows_a_form_error(superuser_client):
    response = _add_gateway(superuser_client, countries="DE, XX")

    assert response.status_code == 200
    assert "countries" in _form_errors(response)
    assert "XX" in str(_form_errors(response)["countries"])
    assert not GatewayAccount.objects.exists()
    assert not Event.objects.exists()


def test_add_gateway_account_with_a_disabled_currency_shows_a_form_error(superuser_client):
    response = _add_gateway(superuser_client, currencies="EUR, ZAR")

    assert response.status_code == 200
    assert "currencies" in _form_errors(response)
    assert not GatewayAccount.objects.exists()


def test_change_gateway_account_with_unknown_country_shows_a_form_error_and_keeps_the_row(superuser_client):
    account = sandbox_account(countries=["DE"])
    data = {"display_name": "Sandbox", "countries": "12", "currencies": "", "priority": "100", "active": "on"}

    response = superuser_client.post(f"{GATEWAYS}{account.pk}/change/", data)

    assert response.status_code == 200
    assert "countries" in _form_errors(response)
    account.refresh_from_db()
    assert account.countries == ["DE"]


def test_add_form_shown_again_after_an_error_does_not_echo_the_typed_secret(superuser_client):
    response = _add_gateway(superuser_client, countries="XX")

    assert response.status_code == 200
    assert b"sk_typed_in_the_admin_0123456789" not in response.content


def test_gateway_account_cannot_be_deleted_from_the_admin(superuser_client):
    account = sandbox_account()

    response = superuser_client.post(f"{GATEWAYS}{account.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert GatewayAccount.objects.filter(pk=account.pk).exists()


# --- Gateway accounts: health, failover, the outage drill -----------------------------------------


def _action(client, action: str, *accounts):
    return client.post(GATEWAYS, {"action": action, "_selected_action": [a.pk for a in accounts]}, follow=True)


def test_the_list_shows_each_accounts_region_and_health(superuser_client):
    from datetime import timedelta

    from django.utils import timezone

    primary = sandbox_account(display_name="EU primary", priority=10, region="EU")
    sandbox_account(display_name="EU backup", priority=20, region="EU")
    GatewayAccount.objects.filter(pk=primary.pk).update(
        unanswered=2, unavailable_until=timezone.now() + timedelta(seconds=60), last_unanswered="Timeout"
    )

    html = superuser_client.get(GATEWAYS).content.decode()

    assert "not answering: new cards go to a backup until" in html and "Timeout" in html
    assert html.count(">answering<") == 1 and html.count(">EU<") >= 2


def test_an_operator_starts_and_ends_the_sandboxs_outage_drill_and_it_is_audited(superuser_client):
    from integrations.kernel.models import AuditEvent

    account = sandbox_account(display_name="EU primary")

    response = _action(superuser_client, "outage_drill_start", account)

    assert response.status_code == 200
    account.refresh_from_db()
    assert account.outage_drill is True
    assert "outage drill on" in superuser_client.get(GATEWAYS).content.decode()
    _action(superuser_client, "outage_drill_end", account)
    account.refresh_from_db()
    assert account.outage_drill is False
    assert list(
        AuditEvent.objects.filter(action="gateway_account.outage_drill").values_list("object_id", flat=True)
    ) == [
        account.pk,
        account.pk,
    ]


def test_a_gateway_that_cannot_play_an_outage_says_so(superuser_client):
    from payments.services import gateway_account_create

    stripe = gateway_account_create(provider="stripe", display_name="Stripe", credentials={"secret_key": "sk_x"})

    response = _action(superuser_client, "outage_drill_start", stripe)

    assert "cannot play an outage" in response.content.decode()
    stripe.refresh_from_db()
    assert stripe.outage_drill is False


def test_mark_as_answering_sends_new_cards_to_the_account_again(superuser_client):
    from datetime import timedelta

    from django.utils import timezone

    account = sandbox_account(display_name="EU primary")
    GatewayAccount.objects.filter(pk=account.pk).update(unanswered=3, unavailable_until=timezone.now() + timedelta(60))

    _action(superuser_client, "health_reset", account)

    account.refresh_from_db()
    assert (account.unanswered, account.unavailable_until) == (0, None)


def test_adyen_credentials_are_write_only(superuser_client):
    response = _add_gateway(
        superuser_client,
        provider="adyen",
        display_name="Adyen EU",
        region="EU",
        credential_api_key="AQE_typed_api_key_0123456789",
        credential_hmac_key="44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
        credential_merchant_account="MediaManagerECOM",
        credential_client_key="test_CLIENTKEY",
        credential_secret_key="",
    )
    assert response.status_code == 302, _form_errors(response) if response.status_code == 200 else response
    account = GatewayAccount.objects.get(provider="adyen")
    assert account.region == "EU"
    assert account.credentials["api_key"] == "AQE_typed_api_key_0123456789"
    assert "AQE_typed" not in _raw_credentials(account.pk)
    page = superuser_client.get(f"{GATEWAYS}{account.pk}/change/").content.decode()
    assert "AQE_typed_api_key" not in page and "44782DEF" not in page
    assert "MediaManagerECOM" in page  # the merchant account is no secret
