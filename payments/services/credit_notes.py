"""Credit notes: a refund, as an accounting document. Each reverses the refunded share of every
line of the invoice and of its tax; across all of an invoice's credit notes no line is credited
more than it charged, and the last refund credits exactly what was left."""

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from integrations.services import event_emit
from payments.currency import minor_digits, money
from payments.locks import payment_lock
from payments.models import CreditNote, CreditNoteLine, CreditNoteNumberSequence, InvoiceLine, Refund
from payments.representations import credit_note_repr
from payments.services.documents import credit_note_document_freeze
from payments.services.invoices import numbers_reserve


def _units(amount: Decimal, digits: int) -> int:
    return int((amount * (10**digits)).to_integral_value(rounding=ROUND_HALF_UP))


def shares_by_largest_remainder(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights` (integers, minor units), adding up exactly: each
    share is its floor, and the units left go to the largest remainders (the first line on a tie).
    No share exceeds its weight while `total` is at most their sum."""
    whole = sum(weights)
    if whole <= 0 or total <= 0:
        return [0] * len(weights)
    exact = [Decimal(total) * weight / whole for weight in weights]
    shares = [int(value.to_integral_value(rounding=ROUND_FLOOR)) for value in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def credit_note_issue(*, refund: Refund) -> CreditNote:
    """The credit note of a refund that succeeded, inside the caller's transaction (with the
    payment locked, as refund_apply_result holds it); a second call returns the first."""
    existing = CreditNote.objects.filter(refund=refund).first()
    if existing is not None:
        return existing
    invoice = refund.payment.invoice
    currency = invoice.currency
    digits = minor_digits(currency)
    lines = list(InvoiceLine.objects.filter(invoice=invoice).order_by("position"))
    credited = {
        row["invoice_line"]: row
        for row in CreditNoteLine.objects.filter(invoice_line__in=lines)
        .values("invoice_line")
        .annotate(total=Sum("total"), tax=Sum("tax"))
    }
    left = [_units(line.total.amount - (credited.get(line.pk, {}).get("total") or 0), digits) for line in lines]
    left_tax = [_units(line.tax_amount.amount - (credited.get(line.pk, {}).get("tax") or 0), digits) for line in lines]
    amount = min(_units(refund.amount.amount, digits), sum(left))
    shares = shares_by_largest_remainder(amount, left)
    rows = []
    for line, share, line_left, tax_left in zip(lines, shares, left, left_tax, strict=True):
        if share == 0:
            continue
        # The line's tax is credited in the share its remaining total is credited; all of it last.
        tax = tax_left if share == line_left else min(tax_left, (share * tax_left + line_left // 2) // line_left)
        rows.append((line, share - tax, tax))
    scale = Decimal(10) ** -digits
    net_total, tax_total = sum(net for _, net, _ in rows), sum(tax for _, _, tax in rows)
    note = CreditNote.objects.create(
        number=numbers_reserve(sequence=CreditNoteNumberSequence, prefix="CN", year=timezone.now().year)[0],
        invoice=invoice,
        refund=refund,
        currency=currency,
        subtotal=money(net_total * scale, currency),
        tax=money(tax_total * scale, currency),
        total=money((net_total + tax_total) * scale, currency),
    )
    note_lines = CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            credit_note=note,
            invoice_line=line,
            net=money(net * scale, currency),
            tax=money(tax * scale, currency),
            total=money((net + tax) * scale, currency),
        )
        for line, net, tax in rows
    )
    credit_note_document_freeze(note=note, lines=note_lines)
    event_emit(
        type="credit_note.created",
        payload={"credit_note": credit_note_repr(note, lines=note_lines)},
        customer_id=invoice.customer_id,
    )
    return note


def credit_notes_backfill() -> int:
    """Credit notes for the refunds that succeeded before credit notes existed, oldest first, each
    under its payment's lock; safe to run again. Answers how many were issued."""
    issued = 0
    missing = Refund.objects.filter(status=Refund.Status.SUCCEEDED, credit_note__isnull=True).order_by(
        "created_at", "id"
    )
    for refund in missing.select_related("payment__invoice").iterator(chunk_size=500):
        with transaction.atomic():
            payment_lock(refund.payment_id)
            if not CreditNote.objects.filter(refund=refund).exists():
                credit_note_issue(refund=refund)
                issued += 1
    return issued
