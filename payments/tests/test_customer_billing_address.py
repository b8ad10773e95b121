"""A customer's postal address (`billing_address`, VAT Directive art. 226): set over the API and in
the admin through the services, checked (printable, at most 5 lines and 500 characters), erased
with the rest of the profile, frozen into invoices and credit notes when issued and printed under
the buyer's name; a stored PDF never changes when the address does."""

import hashlib

import pytest
from django.test import Client
from moneyed import Money

from conftest import sign_in_verified, staff_in_role
from integrations.kernel.errors import InvalidRequest
from integrations.models import AuditEvent, Event
from payments import services
from payments.models import CreditNoteDocument, Customer, InvoiceDocument
from payments.services import (
    billing_address_read,
    credit_note_document_render,
    customer_anonymise,
    customer_update,
    invoice_document_render,
    payment_refund,
)
from payments.tests.factories import CustomerFactory, open_invoice, sandbox_account, sandbox_card
from payments.tests.pdf_helpers import needs_pdftotext, pdf_text

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"
ADDRESS = "Kastanienallee 12\n10435 Berlin"


@pytest.fixture(autouse=True)
def seller(settings):
    settings.TAX_SELLER_NAME = "Media Manager GmbH"
    settings.TAX_SELLER_ADDRESS = "Hauptstraße 1\n10115 Berlin"
    settings.TAX_SELLER_VAT_ID = "DE123456789"
    settings.TAX_SELLER_COUNTRY = "DE"


def _create(client, **fields):
    body = {"external_id": "addr-1", "email": "anna@example.com", "country": "DE", "name": "Anna Müller"}
    return client.post(URL, {**body, **fields}, format="json")


def _error(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]


# --- The API


def test_a_customer_is_created_with_a_billing_address_and_it_is_shown(operator_client):
    response = _create(operator_client, billing_address="  Kastanienallee 12 \r\n\r\n10435 Berlin  ")

    assert response.status_code == 201, response.content
    assert response.json()["billing_address"] == ADDRESS
    assert Customer.objects.get(external_id="addr-1").billing_address == ADDRESS
    shown = operator_client.get(f"{URL}/{response.json()['id']}").json()
    assert shown["billing_address"] == ADDRESS
    created = Event.objects.get(type="customer.created")
    assert created.payload["customer"]["billing_address"] == ADDRESS


@pytest.mark.parametrize("given", [None, ""])
def test_a_customer_without_a_billing_address_reads_null(operator_client, given):
    fields = {} if given is None else {"billing_address": given}

    response = _create(operator_client, **fields)

    assert response.status_code == 201, response.content
    assert response.json()["billing_address"] is None
    assert Customer.objects.get(external_id="addr-1").billing_address == ""


def test_patch_changes_the_billing_address_and_says_so_in_customer_updated(operator_client):
    customer = CustomerFactory()

    response = operator_client.patch(f"{URL}/{customer.id}", {"billing_address": ADDRESS}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["billing_address"] == ADDRESS
    event = Event.objects.get(type="customer.updated")
    assert event.payload["changed"] == ["billing_address"]
    assert event.payload["customer"]["billing_address"] == ADDRESS


@pytest.mark.parametrize("removed", [None, ""])
def test_patch_with_null_or_empty_removes_the_billing_address(operator_client, removed):
    customer = CustomerFactory(billing_address=ADDRESS)

    response = operator_client.patch(f"{URL}/{customer.id}", {"billing_address": removed}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["billing_address"] is None
    customer.refresh_from_db()
    assert customer.billing_address == ""


def test_patch_with_the_same_address_changes_nothing(operator_client):
    customer = CustomerFactory(billing_address=ADDRESS)

    response = operator_client.patch(f"{URL}/{customer.id}", {"billing_address": ADDRESS}, format="json")

    assert response.status_code == 200
    assert not Event.objects.filter(type="customer.updated").exists()


@pytest.mark.parametrize(
    "given",
    [
        "x" * 501,  # too long as given
        "\n".join(["y" * 99] * 5) + "yy",  # 5 lines, 502 characters
        "Street 1\n2\n3\n4\n5\n6",  # six lines
        "Street 1\x00",  # NUL
        "Street\x071",  # a control character (BEL)
        "Street\t1",  # a tab
        "Street 1\u202e",  # a bidi override
        "Street 1\u2028Berlin",  # a line separator that is no line break here
        "Street 1\x1b[31m",  # a terminal escape
        ["Street 1"],
    ],
)
def test_an_address_that_is_too_long_or_not_printable_is_a_400_naming_it(operator_client, given):
    customer = CustomerFactory(billing_address=ADDRESS)

    created = _create(operator_client, billing_address=given)
    patched = operator_client.patch(f"{URL}/{customer.id}", {"billing_address": given}, format="json")

    for response in (created, patched):
        error = _error(response)
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error",
            "parameter_invalid",
            "billing_address",
        )
    assert not Customer.objects.filter(external_id="addr-1").exists()
    customer.refresh_from_db()
    assert customer.billing_address == ADDRESS


def test_an_address_of_five_lines_and_500_characters_is_taken():
    given = "\n".join(["a" * 96] * 5)  # 480 + 4 line breaks
    given = given + "b" * (500 - len(given))

    assert billing_address_read(raw=given) == given and len(given) == 500
    with pytest.raises(InvalidRequest) as refused:
        billing_address_read(raw=given + "c")
    assert refused.value.param == "billing_address"


def test_the_openapi_schema_names_the_billing_address(operator_client):
    components = operator_client.get("/api/schema/?format=json").json()["components"]["schemas"]

    assert components["Customer"]["properties"]["billing_address"]["nullable"] is True
    for request in ("CustomerCreateRequest", "PatchedCustomerUpdateRequest"):
        assert components[request]["properties"]["billing_address"]["maxLength"] == 500


# --- Data protection (the export and erase routes: tests/test_customer_billing_address_privacy.py)


def test_customer_anonymise_blanks_the_address_and_scrubs_every_one_the_events_held():
    customer = services.customer_create(
        external_id="moving", email="m@example.com", country="DE", billing_address="Old Street 1\n10115 Berlin"
    )
    customer_update(customer=customer, billing_address=ADDRESS)  # moved: both are in the events

    erased = customer_anonymise(customer=customer)

    assert erased.billing_address == ""
    assert Customer.objects.get(pk=customer.pk).billing_address == ""
    events = list(Event.objects.filter(customer_id=customer.id))
    assert {event.type for event in events} >= {"customer.created", "customer.updated", "customer.erased"}
    for event in events:
        text = str(event.payload)
        assert "Old Street" not in text and "Kastanienallee" not in text, event.type
        assert event.payload["customer"]["billing_address"] is None, event.type
    assert customer_anonymise(customer=customer).billing_address == ""  # twice is harmless


def test_the_audit_log_records_that_the_address_changed_never_what_it_says(operator_client):
    customer = CustomerFactory()

    operator_client.patch(f"{URL}/{customer.id}", {"billing_address": ADDRESS}, format="json")

    entry = AuditEvent.objects.get(action="customer.updated", object_id=customer.id)
    assert entry.changes["billing_address"] == [None, "[redacted]"]
    assert "Kastanienallee" not in str(entry.changes)


# --- The admin


def _change_url(customer) -> str:
    return f"/admin/payments/customer/{customer.pk}/change/"


def _profile(customer, **changes) -> dict:
    data = {"external_id": customer.external_id, "email": customer.email, "name": customer.name, "country": "DE"}
    return {**data, **changes}


@pytest.fixture
def support_client():
    return sign_in_verified(Client(), staff_in_role("support"))


def test_support_edits_the_billing_address_on_the_customer_form(support_client):
    customer = CustomerFactory(country="DE")
    assert b'name="billing_address"' in support_client.get(_change_url(customer)).content

    response = support_client.post(_change_url(customer), _profile(customer, billing_address=ADDRESS))

    assert response.status_code == 302, response.content
    customer.refresh_from_db()
    assert customer.billing_address == ADDRESS
    assert Event.objects.get(type="customer.updated").payload["changed"] == ["billing_address"]


def test_the_customer_form_refuses_a_control_character_with_a_form_error(support_client):
    customer = CustomerFactory(country="DE", billing_address=ADDRESS)

    response = support_client.post(_change_url(customer), _profile(customer, billing_address="Street\x071"))

    assert response.status_code == 200
    assert "billing_address" in response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.billing_address == ADDRESS


# --- Documents


def test_an_invoice_freezes_the_address_as_it_was_at_issue():
    customer = CustomerFactory(billing_address=ADDRESS)
    invoice = open_invoice(customer=customer)

    customer_update(customer=customer, billing_address="Somewhere Else 9\n80331 München")

    assert InvoiceDocument.objects.get(invoice=invoice).snapshot["buyer"]["address"] == ADDRESS
    later = open_invoice(customer=customer)
    assert InvoiceDocument.objects.get(invoice=later).snapshot["buyer"]["address"] == (
        "Somewhere Else 9\n80331 München"
    )


@needs_pdftotext
def test_the_pdf_prints_the_address_under_the_buyers_name_line_by_line_and_escaped():
    customer = CustomerFactory(name="Anna Müller", billing_address="Kastanienallee 12 <b>Hof</b> & Co\n10435 Berlin")

    text = pdf_text(invoice_document_render(invoice=open_invoice(customer=customer)).content)

    rows = [row.strip() for row in text.splitlines() if row.strip()]
    buyer = rows.index(next(row for row in rows if row.endswith("Anna Müller")))
    below = " ".join(rows[buyer : buyer + 4])
    assert "Kastanienallee 12 <b>Hof</b> & Co" in below  # shown as written, not read as markup
    street = next(row for row in rows if "Kastanienallee" in row)
    city = next(row for row in rows if "10435 Berlin" in row)
    assert rows.index(street) < rows.index(city) and "10435" not in street  # its own line


@needs_pdftotext
def test_a_stored_pdf_never_changes_when_the_address_changes_later():
    customer = CustomerFactory(name="Anna Müller", billing_address=ADDRESS)
    invoice = open_invoice(customer=customer)
    stored = invoice_document_render(invoice=invoice)

    customer_update(customer=customer, billing_address="Somewhere Else 9\n80331 München")
    again = invoice_document_render(invoice=invoice)

    assert hashlib.sha256(again.content).hexdigest() == stored.sha256 == again.sha256
    text = pdf_text(again.content)
    assert "Kastanienallee 12" in text and "Somewhere Else" not in text


@needs_pdftotext
def test_a_credit_note_prints_the_address_its_invoice_was_issued_with():
    customer = CustomerFactory(name="Anna Müller", currency="EUR", billing_address=ADDRESS)
    invoice = open_invoice(customer=customer)
    payment = services.invoice_pay(
        invoice=invoice, payment_method=sandbox_card(customer=customer, account=sandbox_account())
    )
    customer_update(customer=customer, billing_address="Somewhere Else 9\n80331 München")

    note = payment_refund(payment=payment, amount=Money("4.00", "EUR")).credit_note

    assert CreditNoteDocument.objects.get(credit_note=note).snapshot["buyer"]["address"] == ADDRESS
    text = pdf_text(credit_note_document_render(note=note).content)
    assert "Kastanienallee 12" in text and "10435 Berlin" in text and "Somewhere Else" not in text
