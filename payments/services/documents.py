"""Invoice and credit-note PDFs, issued once and kept.

Frozen when issued: `invoice_finalize`, the billing engine's batch (`invoices_issue_batch`) and
`credit_note_issue` call the freeze step inside their own transaction, which writes one small row
per document with what it says (payments.documents.snapshots); nothing is rendered there, so the
set-based renewal path pays one bulk INSERT per batch and no layout work. Rendered on first need
(the API, the admin, the receipt email's worker) from that snapshot alone, under the document row's
lock, so two first requests at once render and store it once; the bytes and their SHA-256 are
kept in the row and served unchanged ever after."""

import hashlib
import logging

from django.db import transaction
from django.utils import timezone

from integrations.kernel.errors import Conflict
from payments.documents.snapshots import buyers_now, credit_note_snapshot, invoice_snapshot, seller_now
from payments.models import (
    CreditNote,
    CreditNoteDocument,
    CreditNoteLine,
    Invoice,
    InvoiceDocument,
    InvoiceLine,
)

logger = logging.getLogger("payments.documents")


def invoices_documents_freeze(*, invoices: list[Invoice], lines: dict[str, list[InvoiceLine]] | None = None) -> None:
    """Fix what each of these finalized invoices' PDFs will say, in the caller's transaction:
    the seller's settings, the buyer and the lines as they are now. `lines` by invoice id when the
    caller has them at hand (the batch just made them); otherwise read in one query. An invoice
    whose document exists keeps it (a second call changes nothing)."""
    if not invoices:
        return
    if lines is None:
        lines = {invoice.id: [] for invoice in invoices}
        for line in InvoiceLine.objects.filter(invoice__in=invoices).order_by("invoice_id", "position"):
            lines[line.invoice_id].append(line)
    buyers = buyers_now({invoice.customer_id for invoice in invoices})
    seller, now = seller_now(), timezone.now()
    documents = []
    for invoice in invoices:
        buyer = buyers[invoice.customer_id]
        snapshot = invoice_snapshot(invoice=invoice, lines=lines[invoice.id], buyer=buyer, seller=seller)
        documents.append(
            InvoiceDocument(invoice_id=invoice.id, language=snapshot["language"], snapshot=snapshot, frozen_at=now)
        )
    InvoiceDocument.objects.bulk_create(documents, ignore_conflicts=True)


def credit_note_document_freeze(*, note: CreditNote, lines: list[CreditNoteLine] | None = None) -> None:
    """Fix what a credit note's PDF will say, in the caller's transaction (credit_note_issue's).
    Its buyer is the invoice's as that invoice's document froze it, where there is one."""
    invoice = note.invoice
    if lines is None:
        lines = list(note.lines.select_related("invoice_line"))
    buyer = buyers_now([invoice.customer_id])[invoice.customer_id]
    snapshot = credit_note_snapshot(note=note, lines=lines, invoice=invoice, buyer=buyer, seller=seller_now())
    frozen = InvoiceDocument.objects.filter(pk=invoice.pk).values_list("snapshot", flat=True).first()
    if frozen is not None:
        snapshot.update(buyer=frozen["buyer"], language=frozen["language"])
    CreditNoteDocument.objects.bulk_create(
        [
            CreditNoteDocument(
                credit_note=note, language=snapshot["language"], snapshot=snapshot, frozen_at=timezone.now()
            )
        ],
        ignore_conflicts=True,
    )


def _render_into(document) -> None:
    # Imported here: WeasyPrint (and the Pango it loads) is needed by whoever renders, not by every process.
    from payments.documents.rendering import pdf_render

    content = pdf_render(document.snapshot)
    document.content = content
    document.sha256 = hashlib.sha256(content).hexdigest()
    document.size = len(content)
    document.rendered_at = timezone.now()
    document.save(update_fields=["content", "sha256", "size", "rendered_at"])


def _stored(model, pk: str):
    """The stored document, rendered once: read as it is, or rendered and kept under its row's lock."""
    document = model.objects.filter(pk=pk, content__isnull=False).first()
    if document is not None:
        return document
    with transaction.atomic():
        document = model.objects.select_for_update().filter(pk=pk).first()
        if document is not None and document.content is None:
            _render_into(document)
    return document


def invoice_document_render(*, invoice: Invoice) -> InvoiceDocument:
    """The invoice's PDF as issued: rendered and stored on the first call, the stored one ever
    after. A draft has none yet: 409 invoice_not_finalized. An invoice finalized before documents
    existed gets its snapshot now, on its first call."""
    if invoice.finalized_at is None or not invoice.number:
        raise Conflict(
            f"Invoice {invoice.id} is a draft: its PDF is issued when it is finalized.", code="invoice_not_finalized"
        )
    document = _stored(InvoiceDocument, invoice.pk)
    if document is None:
        with transaction.atomic():
            invoices_documents_freeze(invoices=[invoice])
        document = _stored(InvoiceDocument, invoice.pk)
    document.content = bytes(document.content)
    return document


def credit_note_document_render(*, note: CreditNote) -> CreditNoteDocument:
    """The credit note's PDF as issued: rendered and stored on the first call, the stored one ever
    after (a credit note issued before documents existed gets its snapshot on its first call)."""
    document = _stored(CreditNoteDocument, note.pk)
    if document is None:
        with transaction.atomic():
            credit_note_document_freeze(note=note)
        document = _stored(CreditNoteDocument, note.pk)
    document.content = bytes(document.content)
    return document
