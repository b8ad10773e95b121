"""The admin's PDF button on invoice and credit-note pages: support, finance and administrators
open the stored PDF as issued; other roles are refused; a draft has no button and no PDF."""

import pytest
from django.test import Client
from moneyed import Money

from conftest import sign_in_verified, staff_in_role
from payments import services
from payments.tests.factories import CustomerFactory, open_invoice, sandbox_account, sandbox_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunded():
    """An invoice paid and partly refunded: the invoice and its credit note."""
    customer = CustomerFactory()
    invoice = open_invoice(customer=customer)
    payment = services.invoice_pay(
        invoice=invoice, payment_method=sandbox_card(customer=customer, account=sandbox_account())
    )
    note = services.payment_refund(payment=payment, amount=Money("3.00", "EUR")).credit_note
    return invoice, note


def _staff(role: str) -> Client:
    return sign_in_verified(Client(), staff_in_role(role))


@pytest.mark.parametrize("role", ["support", "finance", "administrator"])
def test_support_finance_and_administrators_open_the_invoice_pdf_from_its_page(role, refunded):
    invoice, note = refunded
    staff = _staff(role)
    pdf_url = f"/admin/payments/invoice/{invoice.pk}/pdf/"

    page = staff.get(f"/admin/payments/invoice/{invoice.pk}/change/")

    assert page.status_code == 200
    assert pdf_url in page.content.decode()
    assert f"/admin/payments/creditnote/{note.pk}/pdf/" in page.content.decode()  # the credit notes' list
    response = staff.get(pdf_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    assert response.content == services.invoice_document_render(invoice=invoice).content
    note_pdf = staff.get(f"/admin/payments/creditnote/{note.pk}/pdf/")
    assert note_pdf.status_code == 200 and note_pdf.content.startswith(b"%PDF-")


@pytest.mark.parametrize("role", ["support", "finance", "administrator"])
def test_the_credit_note_page_has_its_pdf_button(role, refunded):
    _, note = refunded

    page = _staff(role).get(f"/admin/payments/creditnote/{note.pk}/change/")

    assert page.status_code == 200 and f"/admin/payments/creditnote/{note.pk}/pdf/" in page.content.decode()


@pytest.mark.parametrize("role", ["marketing", "catalogue"])
def test_other_roles_get_no_pdf(role, refunded):
    invoice, note = refunded
    staff = _staff(role)

    assert staff.get(f"/admin/payments/invoice/{invoice.pk}/pdf/").status_code == 403
    assert staff.get(f"/admin/payments/creditnote/{note.pk}/pdf/").status_code == 403


def test_the_pdf_needs_the_second_factor(refunded, django_user_model):
    invoice, _ = refunded
    client = Client()
    client.force_login(staff_in_role("finance"))  # a password, no second factor

    response = client.get(f"/admin/payments/invoice/{invoice.pk}/pdf/")

    assert response.status_code == 302 and not response.get("Content-Type", "").startswith("application/pdf")


def test_a_draft_has_no_pdf_button_and_no_pdf(admin_client):
    draft = services.invoice_create(
        customer=CustomerFactory(), currency="EUR", lines=[services.LineSpec("Pass", Money("9.99", "EUR"))]
    )

    page = admin_client.get(f"/admin/payments/invoice/{draft.pk}/change/")

    assert page.status_code == 200 and f"/admin/payments/invoice/{draft.pk}/pdf/" not in page.content.decode()
    assert admin_client.get(f"/admin/payments/invoice/{draft.pk}/pdf/").status_code == 404


def test_an_operator_sets_a_customers_document_language_and_a_bad_tag_is_a_form_error(superuser_client):
    from payments.models import Customer

    customer = CustomerFactory(country="AT", currency="EUR")
    url = f"/admin/payments/customer/{customer.pk}/change/"
    data = {"external_id": customer.external_id, "email": customer.email, "name": customer.name, "country": "AT"}

    refused = superuser_client.post(url, {**data, "preferred_locale": "not a tag"})
    saved = superuser_client.post(url, {**data, "preferred_locale": "de_at"})

    assert refused.status_code == 200 and "preferred_locale" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    assert Customer.objects.get(pk=customer.pk).preferred_locale == "de-AT"
