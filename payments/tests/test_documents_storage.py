"""Invoice and credit-note PDFs are issued once: what they say is frozen when the invoice is
finalized (or the credit note issued), the PDF is rendered on first need and kept with its
SHA-256, and nothing later (the seller's settings, the customer, a template) changes it. Documents
fetch nothing but our own static files."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from moneyed import Money

from integrations.kernel.errors import Conflict
from payments import services
from payments.documents import rendering
from payments.documents.formatting import locale_tag_read
from payments.models import CreditNoteDocument, Customer, InvoiceDocument
from payments.services import credit_note_document_render, invoice_document_render, payment_refund
from payments.services.documents import invoices_documents_freeze
from payments.tests.factories import CustomerFactory, open_invoice, sandbox_account, sandbox_card
from payments.tests.pdf_helpers import needs_pdftotext, pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def seller(settings):
    settings.TAX_SELLER_NAME = "Media Manager GmbH"
    settings.TAX_SELLER_ADDRESS = "Hauptstraße 1, 10115 Berlin"
    settings.TAX_SELLER_VAT_ID = "DE123456789"
    settings.TAX_SELLER_COUNTRY = "DE"


@pytest.fixture
def renders(monkeypatch):
    """Counts the PDFs rendered."""
    calls = []
    real = rendering.pdf_render

    def counted(snapshot):
        calls.append(snapshot["number"])
        return real(snapshot)

    monkeypatch.setattr(rendering, "pdf_render", counted)
    return calls


def test_finalizing_freezes_the_document_and_renders_nothing(renders):
    invoice = open_invoice(customer=CustomerFactory(name="Anna Müller"))

    document = InvoiceDocument.objects.get(invoice=invoice)

    assert document.content is None and document.sha256 == "" and renders == []
    assert document.snapshot["number"] == invoice.number
    assert document.snapshot["buyer"]["name"] == "Anna Müller"
    assert document.snapshot["seller"] == {
        "name": "Media Manager GmbH",
        "business_name": "",
        "address": "Hauptstraße 1, 10115 Berlin",
        "country": "DE",
        "subdivision": "",
        "vat_id": "DE123456789",
    }


def test_a_draft_has_no_document_and_its_pdf_is_refused():
    draft = services.invoice_create(
        customer=CustomerFactory(), currency="EUR", lines=[services.LineSpec("Pass", Money("9.99", "EUR"))]
    )

    with pytest.raises(Conflict) as refused:
        invoice_document_render(invoice=draft)

    assert refused.value.code == "invoice_not_finalized" and refused.value.http_status == 409
    assert not InvoiceDocument.objects.exists()


def test_the_first_request_renders_and_stores_the_pdf_with_its_hash_and_later_ones_read_it(renders):
    invoice = open_invoice(customer=CustomerFactory())

    first = invoice_document_render(invoice=invoice)
    second = invoice_document_render(invoice=invoice)

    assert renders == [invoice.number]
    assert first.content.startswith(b"%PDF-") and first.content == second.content
    assert first.sha256 == second.sha256 == hashlib.sha256(first.content).hexdigest()
    assert first.size == len(first.content) and first.rendered_at is not None


@needs_pdftotext
def test_a_stored_pdf_never_changes_whatever_changes_after(settings, monkeypatch):
    customer = CustomerFactory(name="Anna Müller")
    invoice = open_invoice(customer=customer)
    stored = invoice_document_render(invoice=invoice)

    settings.TAX_SELLER_NAME = "Another Seller Ltd"
    settings.TAX_SELLER_VAT_ID = "DE999999999"
    services.customer_update(customer=customer, name="Someone Else", preferred_locale="de")
    monkeypatch.setattr(rendering, "TEMPLATES", {"invoice": "documents/credit_note.html"})  # a changed template
    again = invoice_document_render(invoice=invoice)

    assert again.content == stored.content and again.sha256 == stored.sha256
    assert hashlib.sha256(again.content).hexdigest() == stored.sha256
    text = pdf_text(again.content)
    assert "Anna Müller" in text and "Media Manager GmbH" in text and "Someone Else" not in text


@needs_pdftotext
def test_what_a_pdf_says_is_fixed_when_the_invoice_is_finalized_even_if_rendered_later(settings):
    customer = CustomerFactory(name="Anna Müller")
    invoice = open_invoice(customer=customer)

    settings.TAX_SELLER_NAME = "Another Seller Ltd"
    Customer.objects.filter(pk=customer.pk).update(name="Someone Else", preferred_locale="de")
    text = pdf_text(invoice_document_render(invoice=invoice).content)

    assert text.startswith("Invoice")  # English, as the customer's language was then
    assert "Anna Müller" in text and "Media Manager GmbH" in text
    assert "Someone Else" not in text and "Another Seller" not in text


def test_an_invoice_finalized_before_documents_existed_gets_one_on_its_first_request(renders):
    invoice = open_invoice(customer=CustomerFactory())
    InvoiceDocument.objects.filter(invoice=invoice).delete()

    document = invoice_document_render(invoice=invoice)

    assert InvoiceDocument.objects.filter(invoice=invoice).count() == 1
    assert document.snapshot["number"] == invoice.number and renders == [invoice.number]


def test_freezing_again_keeps_the_first_snapshot():
    customer = CustomerFactory(name="Anna Müller")
    invoice = open_invoice(customer=customer)
    frozen = InvoiceDocument.objects.get(invoice=invoice).snapshot
    Customer.objects.filter(pk=customer.pk).update(name="Someone Else")

    services.invoice_finalize(invoice=invoice)
    invoices_documents_freeze(invoices=[invoice])

    assert InvoiceDocument.objects.get(invoice=invoice).snapshot == frozen


def test_a_refund_freezes_its_credit_notes_document_with_the_invoices_buyer(renders):
    customer = CustomerFactory(name="Anna Müller", currency="EUR")
    invoice = open_invoice(customer=customer)
    payment = services.invoice_pay(
        invoice=invoice, payment_method=sandbox_card(customer=customer, account=sandbox_account())
    )
    Customer.objects.filter(pk=customer.pk).update(name="Renamed Later")

    note = payment_refund(payment=payment, amount=Money("4.00", "EUR")).credit_note

    frozen = CreditNoteDocument.objects.get(credit_note=note)
    assert frozen.content is None and renders == []
    assert frozen.snapshot["buyer"]["name"] == "Anna Müller"  # as the invoice it corrects has it
    assert frozen.snapshot["invoice"]["number"] == invoice.number
    document = credit_note_document_render(note=note)
    assert document.sha256 == hashlib.sha256(document.content).hexdigest()
    assert credit_note_document_render(note=note).content == document.content and renders == [note.number]


# --- Nothing from outside


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/logo.png",
        "http://127.0.0.1:8000/static/payments/fonts/DejaVuSans.ttf",
        "file:///etc/passwd",
        "data:text/css,body{}",
        "document-static:../../mediamanager/settings.py",
        "document-static:payments/fonts/missing.ttf",
    ],
)
def test_documents_fetch_nothing_but_their_own_static_files(url):
    with pytest.raises(Exception):
        rendering.StaticFilesOnly().fetch(url)


def test_documents_read_their_fonts_from_our_static_files():
    response = rendering.StaticFilesOnly().fetch("document-static:payments/fonts/DejaVuSans.ttf")

    assert response.read()[:4] == b"\x00\x01\x00\x00"  # a TrueType font


def test_no_document_template_names_a_url_other_than_our_static_files():
    import re

    folder = Path(settings.BASE_DIR) / "templates" / "documents"
    templates = sorted(folder.glob("*.html"))
    assert templates
    for template in templates:
        source = template.read_text()
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", source) + re.findall(
            r"(?:src|href)\s*=\s*['\"]([^'\"]+)", source
        )
        assert all(url.startswith(rendering.STATIC_SCHEME) for url in urls), (template.name, urls)
        assert "http:" not in source and "https:" not in source and "//" not in source.replace("://", ""), template.name


def test_a_pdf_asking_for_a_remote_url_renders_without_fetching_it(monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("a document tried to reach the network")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_network)
    from weasyprint import HTML

    pdf = HTML(
        string='<p style="background: url(https://example.com/x.png)">x</p><img src="http://example.com/y.png">',
        url_fetcher=rendering.StaticFilesOnly(),
    ).write_pdf()

    assert pdf.startswith(b"%PDF-")


# --- The customer's language, as given


@pytest.mark.parametrize(
    ("raw", "stored"), [("de", "de"), ("de-at", "de-AT"), ("de_AT", "de-AT"), ("pt-BR", "pt-BR"), ("", ""), (None, "")]
)
def test_a_preferred_locale_is_read_as_a_bcp47_tag(raw, stored):
    assert locale_tag_read(raw=raw) == stored


@pytest.mark.parametrize("raw", ["xx", "german", "de-", "12", "de AT", 7])
def test_a_locale_that_is_no_known_tag_is_refused(raw):
    from integrations.kernel.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as refused:
        locale_tag_read(raw=raw)

    assert refused.value.param == "preferred_locale" and refused.value.code == "parameter_invalid"


def test_the_billing_engines_batch_freezes_every_invoices_document_as_one_by_one(renders):
    import datetime as dt

    from django.db import transaction

    customers = [CustomerFactory(name=f"Subscriber {n}") for n in range(3)]
    start, end = dt.datetime(2030, 2, 10, tzinfo=dt.UTC), dt.datetime(2030, 3, 10, tzinfo=dt.UTC)
    specs = [
        services.InvoiceSpec(
            customer_id=customer.id,
            currency="EUR",
            source=f"batch:{customer.id}",
            line=services.LineSpec("Monthly", Money("9.99", "EUR"), period_start=start, period_end=end),
        )
        for customer in customers
    ]

    with transaction.atomic():
        issued = services.invoices_issue_batch(specs=specs)

    documents = {d.invoice_id: d for d in InvoiceDocument.objects.filter(invoice__in=issued)}
    assert len(documents) == 3 and renders == []
    for invoice, customer in zip(issued, customers, strict=True):
        snapshot = documents[invoice.id].snapshot
        assert snapshot["number"] == invoice.number and snapshot["buyer"]["name"] == customer.name
        assert snapshot["lines"][0]["period_start"] == "2030-02-10T00:00:00Z"
    one_by_one = open_invoice(customer=customers[0])
    batch_keys = set(documents[issued[0].id].snapshot)
    assert batch_keys == set(InvoiceDocument.objects.get(invoice=one_by_one).snapshot)
