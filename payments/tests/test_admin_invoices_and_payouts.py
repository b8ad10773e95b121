"""The Django admin's invoice and payout screens (listed, searched, read-only, a payout's payments
with fee and net), and the customer page with its read-only inlines of invoices, payments and
cards, which still saves."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import Invoice, Payment, PaymentMethod
from payments.tests.admin_helpers import INVOICES, PAYOUTS, _listed
from payments.tests.factories import sandbox_account, succeeded_payment

pytestmark = pytest.mark.django_db


# --- Invoices and payouts -------------------------------------------------------------------------


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
