"""Invoice PDFs end to end: a subscriber checks out and is renewed by `run_billing` (the billing
engine's set-based path); each invoice's document is frozen when it is issued, with its service
period as the date of supply; each receipt email carries that invoice's stored PDF, the very
bytes the customer then downloads from /api/v1/me/invoices/{id}/pdf."""

import hashlib

import pytest

from payments.models import InvoiceDocument, InvoiceLine
from payments.tests.pdf_helpers import line_with, needs_pdftotext, pdf_text
from tests.subscription_helpers import invoices, mails, subscribe
from tests.subscription_lifecycle_helpers import FEB_10

pytestmark = pytest.mark.django_db

DASH = "\u2013"


@pytest.fixture(autouse=True)
def seller(settings):
    settings.TAX_SELLER_NAME = "Media Manager GmbH"
    settings.TAX_SELLER_ADDRESS = "Hauptstraße 1\n10115 Berlin"
    settings.TAX_SELLER_VAT_ID = "DE123456789"
    settings.TAX_SELLER_COUNTRY = "DE"


def _attached_pdf(message) -> tuple[str, bytes]:
    (attachment,) = message.attachments
    name, content, mimetype = attachment
    assert mimetype == "application/pdf"
    return name, content


@needs_pdftotext
def test_each_receipt_carries_its_invoices_stored_pdf_and_the_renewal_shows_its_period(billing, app, customer, monthly):
    subscribe(app, monthly)

    billing.run(FEB_10)  # the renewal goes through invoices_issue_batch

    first, renewal = invoices(app)
    renewal_line = InvoiceLine.objects.get(invoice_id=renewal["id"])
    assert (renewal_line.period_start, renewal_line.period_end) == (FEB_10, FEB_10.replace(month=3))
    receipts = mails("Receipt", to=customer.email)
    assert len(receipts) == 2
    for invoice, receipt in zip((first, renewal), receipts, strict=True):
        name, content = _attached_pdf(receipt)
        assert name == f"{invoice['number']}.pdf"
        stored = InvoiceDocument.objects.get(invoice_id=invoice["id"])
        assert bytes(stored.content) == content and stored.sha256 == hashlib.sha256(content).hexdigest()
        download = app.get(f"/api/v1/me/invoices/{invoice['id']}/pdf")
        assert download.status_code == 200 and download.content == content
        assert download["ETag"] == f'"{stored.sha256}"'

    text = pdf_text(_attached_pdf(receipts[1])[1])
    assert line_with(text, "Invoice number") == f"Invoice number {renewal['number']}"
    assert line_with(text, "Issue date") == "Issue date February 10, 2030"
    assert line_with(text, "Date of supply") == f"Date of supply February 10, 2030 {DASH} March 10, 2030"
    assert "Media Manager GmbH" in text and customer.name in text
    assert "Total EUR 9.99" in text.splitlines()


def test_a_receipt_whose_pdf_cannot_be_made_still_goes_out(billing, app, customer, monthly, monkeypatch):
    from payments.documents import rendering

    def broken(snapshot):
        raise RuntimeError("no Pango here")

    monkeypatch.setattr(rendering, "pdf_render", broken)

    subscribe(app, monthly)

    (receipt,) = mails("Receipt", to=customer.email)
    assert receipt.attachments == []
    assert not InvoiceDocument.objects.filter(content__isnull=False).exists()
