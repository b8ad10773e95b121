"""The Django admin's payment screens: gateway accounts (write-only credentials), cards, payments
and their refunds, invoices, payouts, refunds, and the customer page."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.utils import timezone
from moneyed import Money

from integrations.models import Event
from payments import services
from payments.models import GatewayAccount, Invoice, Payment, PaymentMethod, Refund
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card, succeeded_payment

pytestmark = pytest.mark.django_db

GATEWAYS = "/admin/payments/gatewayaccount/"
CARDS = "/admin/payments/paymentmethod/"
PAYMENTS = "/admin/payments/payment/"
INVOICES = "/admin/payments/invoice/"
PAYOUTS = "/admin/payments/payout/"
REFUNDS = "/admin/payments/refund/"


@pytest.fixture
def superuser_client(django_user_model):
    user = django_user_model.objects.create_superuser(username="root", email="root@example.com", password="pw")
    client = Client()
    client.force_login(user)
    return client


def _listed(response) -> list[str]:
    return [obj.pk for obj in response.context["cl"].result_list]


def _form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


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


# --- Cards ----------------------------------------------------------------------------------------


@pytest.fixture
def card():
    customer = CustomerFactory()
    return sandbox_card(customer=customer, account=sandbox_account())


def test_payment_method_changelist_shows_last4_but_not_the_fingerprint(superuser_client, card):
    response = superuser_client.get(CARDS)

    assert response.status_code == 200
    assert _listed(response) == [card.pk]
    assert b"4242" in response.content
    assert card.fingerprint.encode() not in response.content
    assert card.gateway_reference.encode() not in response.content


def test_payment_method_page_shows_last4_but_not_the_fingerprint(superuser_client, card):
    response = superuser_client.get(f"{CARDS}{card.pk}/change/")

    assert response.status_code == 200
    assert b"4242" in response.content
    assert b"visa" in response.content
    assert card.fingerprint.encode() not in response.content
    assert card.gateway_reference.encode() not in response.content


def test_payment_method_cannot_be_added_changed_or_deleted_in_the_admin(superuser_client, card):
    assert superuser_client.get(f"{CARDS}add/").status_code == 403
    assert superuser_client.post(f"{CARDS}{card.pk}/change/", {"last4": "0000"}).status_code == 403
    assert superuser_client.post(f"{CARDS}{card.pk}/delete/", {"post": "yes"}).status_code == 403
    card.refresh_from_db()
    assert card.last4 == "4242"


def test_payment_method_changelist_filters_detached_cards(superuser_client, card):
    services.payment_method_detach(payment_method=card)
    other = sandbox_card(customer=CustomerFactory(), account=card.gateway_account)

    assert _listed(superuser_client.get(CARDS, {"attached": "no"})) == [card.pk]
    assert _listed(superuser_client.get(CARDS, {"attached": "yes"})) == [other.pk]


# --- Payments: list ---------------------------------------------------------------------------------


def test_payment_changelist_lists_payments(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.get(PAYMENTS)

    assert response.status_code == 200
    assert _listed(response) == [payment.pk]
    assert payment.pk.encode() in response.content


def test_payment_changelist_filters_by_customer_country(superuser_client):
    account = sandbox_account()
    german = succeeded_payment(customer=CustomerFactory(country="DE"), account=account)
    succeeded_payment(customer=CustomerFactory(country="AT"), account=account)

    response = superuser_client.get(PAYMENTS, {"customer__country": "DE"})

    assert _listed(response) == [german.pk]


def test_payment_changelist_filters_by_status_and_currency(superuser_client):
    account = sandbox_account()
    kept = succeeded_payment(account=account)
    refunded = succeeded_payment(account=account)
    services.payment_refund(payment=refunded)

    assert _listed(superuser_client.get(PAYMENTS, {"status": "succeeded", "amount_currency": "EUR"})) == [kept.pk]
    assert _listed(superuser_client.get(PAYMENTS, {"amount_currency": "JPY"})) == []


def test_payment_changelist_search_by_customer_email_finds_the_payment(superuser_client):
    account = sandbox_account()
    wanted = succeeded_payment(customer=CustomerFactory(email="ada@example.com"), account=account)
    succeeded_payment(customer=CustomerFactory(email="grace@example.com"), account=account)

    response = superuser_client.get(PAYMENTS, {"q": "ada@example.com"})

    assert _listed(response) == [wanted.pk]


def test_payment_changelist_search_by_gateway_reference_finds_the_payment(superuser_client):
    account = sandbox_account()
    wanted = succeeded_payment(account=account)
    succeeded_payment(account=account)

    response = superuser_client.get(PAYMENTS, {"q": wanted.gateway_reference})

    assert _listed(response) == [wanted.pk]


def test_payment_page_is_read_only(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.post(f"{PAYMENTS}{payment.pk}/change/", {"status": "failed"})

    assert response.status_code == 403
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


def test_payment_page_shows_the_card_as_brand_and_last4_only(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.get(f"{PAYMENTS}{payment.pk}/change/")

    assert response.status_code == 200
    assert b"4242" in response.content
    assert payment.payment_method.fingerprint.encode() not in response.content


# --- Payments: refund in full (action) ------------------------------------------------------------


def _refund_action(client, payments, **extra):
    data = {"action": "refund_in_full", "_selected_action": [payment.pk for payment in payments], **extra}
    return client.post(PAYMENTS, data)


def test_refund_action_asks_for_confirmation_and_refunds_nothing_yet(superuser_client):
    payment = succeeded_payment()

    response = _refund_action(superuser_client, [payment])

    assert response.status_code == 200
    assert "admin/confirm_action.html" in [template.name for template in response.templates]
    assert payment.pk.encode() in response.content
    assert not Refund.objects.exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


def test_refund_action_confirmed_refunds_the_payment_in_full(superuser_client):
    payment = succeeded_payment(amount="9.99")

    response = _refund_action(superuser_client, [payment], confirm="yes")

    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert payment.amount_refunded == Decimal("9.99")
    refund = Refund.objects.get()
    assert (refund.amount, refund.status) == (Money("9.99", "EUR"), Refund.Status.SUCCEEDED)
    assert any(payment.pk in message and "Refunded in full" in message for message in _messages(response))


def test_refund_action_reports_a_refused_payment_and_still_refunds_the_others(superuser_client):
    account = sandbox_account()
    already = succeeded_payment(account=account)
    services.payment_refund(payment=already)
    fresh = succeeded_payment(account=account)

    response = _refund_action(superuser_client, [already, fresh], confirm="yes")

    assert response.status_code == 302
    fresh.refresh_from_db()
    assert fresh.status == Payment.Status.REFUNDED
    assert Refund.objects.filter(payment=already).count() == 1
    messages = _messages(response)
    assert any("Not refunded" in message and already.pk in message for message in messages)
    assert any("Refunded in full" in message and fresh.pk in message for message in messages)


# --- Payments: partial refund (custom view) -------------------------------------------------------


def _refund_url(payment) -> str:
    return f"{PAYMENTS}{payment.pk}/refund/"


def test_payment_page_links_to_the_partial_refund_view(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.get(f"{PAYMENTS}{payment.pk}/change/")

    assert _refund_url(payment).encode() in response.content


def test_payment_page_of_a_fully_refunded_payment_offers_no_refund_link(superuser_client):
    payment = succeeded_payment()
    services.payment_refund(payment=payment)

    response = superuser_client.get(f"{PAYMENTS}{payment.pk}/change/")

    assert _refund_url(payment).encode() not in response.content


def test_partial_refund_view_shows_a_form_with_what_is_left(superuser_client):
    payment = succeeded_payment(amount="9.99")

    response = superuser_client.get(_refund_url(payment))

    assert response.status_code == 200
    assert b'name="amount"' in response.content
    assert b"9.99 EUR is left to refund" in response.content


def test_partial_refund_view_asks_for_confirmation_before_refunding(superuser_client):
    payment = succeeded_payment(amount="9.99")

    response = superuser_client.post(_refund_url(payment), {"amount": "4.00", "reason": "two days missing"})

    assert response.status_code == 200
    assert response.context["confirming"] is True
    assert b'name="confirm" value="yes"' in response.content
    assert not Refund.objects.exists()


def test_partial_refund_view_confirmed_refunds_part_of_the_payment(superuser_client):
    payment = succeeded_payment(amount="9.99")
    data = {"amount": "4.00", "reason": "two days missing", "refunded_before": "0", "confirm": "yes"}

    response = superuser_client.post(_refund_url(payment), data)

    assert response.status_code == 302
    assert response["Location"] == f"{PAYMENTS}{payment.pk}/change/"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED
    assert payment.amount_refunded == Decimal("4.00")
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.status) == (
        Money("4.00", "EUR"),
        "two days missing",
        Refund.Status.SUCCEEDED,
    )


def test_partial_refund_view_refuses_an_over_refund_with_a_form_error(superuser_client):
    payment = succeeded_payment(amount="9.99")
    data = {"amount": "10.00", "reason": "", "refunded_before": "0", "confirm": "yes"}

    response = superuser_client.post(_refund_url(payment), data)

    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    assert "9.99 EUR is left to refund" in str(response.context["form"].errors["amount"])
    assert not Refund.objects.exists()
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (Payment.Status.SUCCEEDED, Decimal("0"))


def test_partial_refund_view_refuses_more_decimals_than_the_currency_has(superuser_client):
    payment = succeeded_payment(amount="9.99")

    response = superuser_client.post(_refund_url(payment), {"amount": "1.005"})

    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    assert response.context["confirming"] is False


def test_partial_refund_confirmation_posted_twice_refunds_once(superuser_client):
    payment = succeeded_payment(amount="9.99")
    data = {"amount": "2.00", "reason": "", "refunded_before": "0", "confirm": "yes"}

    superuser_client.post(_refund_url(payment), data)
    second = superuser_client.post(_refund_url(payment), data)

    assert second.status_code == 200
    assert second.context["form"].non_field_errors()
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("2.00")
    assert Refund.objects.count() == 1


def test_partial_refund_view_refuses_a_user_without_change_permission(django_user_model):
    payment = succeeded_payment()
    staff = django_user_model.objects.create_user(username="viewer", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)

    response = client.post(_refund_url(payment), {"amount": "1.00", "refunded_before": "0", "confirm": "yes"})

    assert response.status_code == 403
    assert not Refund.objects.exists()


# --- Invoices, payouts, refunds --------------------------------------------------------------------


def test_invoice_changelist_lists_invoices(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.get(INVOICES)

    assert response.status_code == 200
    assert _listed(response) == [payment.invoice_id]
    assert payment.invoice.number.encode() in response.content


def test_invoice_changelist_search_by_number_finds_the_invoice(superuser_client):
    account = sandbox_account()
    wanted = succeeded_payment(account=account).invoice
    succeeded_payment(account=account)

    response = superuser_client.get(INVOICES, {"q": wanted.number})

    assert _listed(response) == [wanted.pk]


def test_invoice_page_shows_its_lines_read_only(superuser_client):
    invoice = succeeded_payment().invoice

    response = superuser_client.get(f"{INVOICES}{invoice.pk}/change/")

    assert response.status_code == 200
    assert b"Pass" in response.content
    assert superuser_client.post(f"{INVOICES}{invoice.pk}/change/", {}).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


def _settled_payout(payment):
    payouts = services.payouts_create_sandbox(as_of=timezone.now() + timedelta(days=3))
    assert len(payouts) == 1
    return payouts[0]


def test_payout_changelist_lists_payouts_with_their_number_of_payments(superuser_client):
    payout = _settled_payout(succeeded_payment())

    response = superuser_client.get(PAYOUTS)

    assert response.status_code == 200
    assert _listed(response) == [payout.pk]
    assert response.context["cl"].result_list[0].payment_count == 1
    assert b"EUR" in response.content


def test_payout_page_lists_its_payments_with_fee_and_net(superuser_client):
    payment = succeeded_payment(amount="9.99")
    payout = _settled_payout(payment)
    payment.refresh_from_db()

    response = superuser_client.get(f"{PAYOUTS}{payout.pk}/change/")

    assert response.status_code == 200
    assert payment.pk.encode() in response.content
    assert str(payment.fee).encode() in response.content
    assert str(payment.net).encode() in response.content


def test_refund_changelist_lists_refunds(superuser_client):
    refund = services.payment_refund(payment=succeeded_payment(), amount=Money("1.00", "EUR"), reason="goodwill")

    response = superuser_client.get(REFUNDS)

    assert response.status_code == 200
    assert _listed(response) == [refund.pk]
    assert b"goodwill" in response.content
    assert superuser_client.get(f"{REFUNDS}add/").status_code == 403


# --- The customer page ----------------------------------------------------------------------------


def test_customer_page_shows_invoices_payments_and_cards(superuser_client):
    payment = succeeded_payment()
    card = payment.payment_method

    response = superuser_client.get(f"/admin/payments/customer/{payment.customer_id}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert payment.invoice.number in html
    assert payment.pk in html
    assert "4242" in html
    assert card.fingerprint not in html
    assert card.gateway_reference not in html


def test_customer_change_still_saves_with_the_read_only_inlines_on_the_page(superuser_client):
    payment = succeeded_payment()
    customer = payment.customer
    data = {"external_id": customer.external_id, "email": "new@example.com", "name": customer.name, "country": "DE"}

    response = superuser_client.post(f"/admin/payments/customer/{customer.pk}/change/", data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "new@example.com"
    assert PaymentMethod.objects.filter(customer=customer).count() == 1
    assert Payment.objects.filter(customer=customer).count() == 1
