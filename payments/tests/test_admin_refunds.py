"""The Django admin's refunds: the refund-in-full action (confirmed first, a refused payment reported
while the others are refunded), the partial refund view (confirmation, over-refunds and extra
decimals refused, posted twice refunds once, change permission needed), and the refund list."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from moneyed import Money

from conftest import sign_in_verified
from payments import services
from payments.models import Payment, Refund
from payments.tests.admin_helpers import PAYMENTS, REFUNDS, _listed
from payments.tests.factories import sandbox_account, succeeded_payment

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


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
    sign_in_verified(client, staff)

    response = client.post(_refund_url(payment), {"amount": "1.00", "refunded_before": "0", "confirm": "yes"})

    assert response.status_code == 403
    assert not Refund.objects.exists()


# --- Refunds: list --------------------------------------------------------------------------------


def test_refund_changelist_lists_refunds(superuser_client):
    refund = services.payment_refund(payment=succeeded_payment(), amount=Money("1.00", "EUR"), reason="goodwill")

    response = superuser_client.get(REFUNDS)

    assert response.status_code == 200
    assert _listed(response) == [refund.pk]
    assert b"goodwill" in response.content
    assert superuser_client.get(f"{REFUNDS}add/").status_code == 403
