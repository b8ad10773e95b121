"""What an invoice or a credit note says, frozen as plain JSON when it is issued: the seller (the
TAX_SELLER_* settings of that moment), the buyer (name, business name, postal address, country, VAT
id, language),
the number and dates, each line, the tax per rate and the totals, amounts as exact decimal strings.
A later change to the settings, the customer or a template's data never reaches an issued document:
it is rendered from this alone (payments.documents.rendering)."""

from dataclasses import asdict, dataclass

from django.conf import settings

from integrations.kernel.representation import datetime_repr
from payments.currency import format_amount
from payments.models import CreditNote, CreditNoteLine, Customer, Invoice, InvoiceLine
from payments.representations import TAXED_STATUSES, tax_breakdown

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class Party:
    name: str = ""
    business_name: str = ""
    address: str = ""
    country: str = ""
    subdivision: str = ""
    vat_id: str = ""


def seller_now() -> Party:
    """The seller as the settings say now (TAX_SELLER_NAME, _ADDRESS, _VAT_ID, _COUNTRY)."""
    return Party(
        name=settings.TAX_SELLER_NAME,
        address=settings.TAX_SELLER_ADDRESS,
        country=settings.TAX_SELLER_COUNTRY,
        vat_id=settings.TAX_SELLER_VAT_ID,
    )


@dataclass(frozen=True)
class BuyerNow:
    """What the customer row adds to an invoice's own buyer fields: their name, state or province,
    preferred language and postal address, as they are when the document is issued."""

    name: str = ""
    subdivision: str = ""
    country: str = ""
    language: str = ""
    address: str = ""

    FIELDS = ("id", "name", "subdivision", "country", "preferred_locale", "billing_address")


def buyers_now(customer_ids) -> dict[str, BuyerNow]:
    """The buyers of many documents in one query (the billing engine's batch path)."""
    rows = Customer.objects.filter(pk__in=list(customer_ids)).values_list(*BuyerNow.FIELDS)
    return {row[0]: BuyerNow(*(value or "" for value in row[1:])) for row in rows}


def _money(value, currency: str) -> str:
    return format_amount(value.amount, currency)


def _buyer(invoice: Invoice, buyer: BuyerNow) -> Party:
    return Party(
        name=buyer.name,
        business_name=invoice.buyer_business_name,
        address=buyer.address,
        country=invoice.billing_country or buyer.country,
        subdivision=buyer.subdivision,
        vat_id=invoice.buyer_tax_id,
    )


def _tax(invoice: Invoice, rates_nets_taxes) -> dict:
    return {
        "status": invoice.tax_status,
        "taxed": invoice.tax_status in TAXED_STATUSES,
        "reverse_charge": invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE,
        "inclusive": invoice.tax_inclusive,
        "country": invoice.tax_country,
        "subdivision": invoice.tax_subdivision,
        "breakdown": [
            {"rate": row["rate"], "taxable": row["taxable"]["amount"], "tax": row["tax"]["amount"]}
            for row in tax_breakdown(invoice=invoice, rates_nets_taxes=rates_nets_taxes)
        ],
    }


def invoice_snapshot(*, invoice: Invoice, lines: list[InvoiceLine], buyer: BuyerNow, seller: Party) -> dict:
    """What a finalized invoice's PDF says, from the invoice, its lines and the buyer as they are now."""
    currency = invoice.currency
    lines = sorted(lines, key=lambda line: line.position)
    net = sum((line.net.amount for line in lines), 0)
    return {
        "version": SNAPSHOT_VERSION,
        "kind": "invoice",
        "id": invoice.id,
        "number": invoice.number,
        "issued_at": datetime_repr(invoice.finalized_at),
        "currency": currency,
        "language": buyer.language,
        "seller": asdict(seller),
        "buyer": asdict(_buyer(invoice, buyer)),
        "customer": invoice.customer_id,
        "lines": [
            {
                "position": line.position,
                "description": line.description,
                "quantity": line.quantity,
                "unit_amount": _money(line.unit_amount, currency),
                "discount": _money(line.discount_amount, currency),
                "net": _money(line.net, currency),
                "tax_rate": str(line.tax_rate.normalize()),
                "tax": _money(line.tax_amount, currency),
                "total": _money(line.total, currency),
                "period_start": datetime_repr(line.period_start),
                "period_end": datetime_repr(line.period_end),
            }
            for line in lines
        ],
        "tax": _tax(invoice, [(line.tax_rate, line.net, line.tax_amount) for line in lines]),
        "subtotal": _money(invoice.subtotal, currency),
        "discount": _money(invoice.discount_total, currency),
        "net": format_amount(net, currency),
        "tax_total": _money(invoice.tax_total, currency),
        "total": _money(invoice.total, currency),
    }


def credit_note_snapshot(
    *, note: CreditNote, lines: list[CreditNoteLine], invoice: Invoice, buyer: BuyerNow, seller: Party
) -> dict:
    """What a credit note's PDF says: the refunded share of each line of the invoice it corrects
    (named by its number and date), at the invoice's rates, with the invoice's buyer and tax."""
    currency = note.currency
    lines = sorted(lines, key=lambda line: line.invoice_line.position)
    return {
        "version": SNAPSHOT_VERSION,
        "kind": "credit_note",
        "id": note.id,
        "number": note.number,
        "issued_at": datetime_repr(note.created_at),
        "currency": currency,
        "language": buyer.language,
        "seller": asdict(seller),
        "buyer": asdict(_buyer(invoice, buyer)),
        "customer": invoice.customer_id,
        "invoice": {"id": invoice.id, "number": invoice.number, "issued_at": datetime_repr(invoice.finalized_at)},
        "lines": [
            {
                "position": line.invoice_line.position,
                "description": line.invoice_line.description,
                "net": _money(line.net, currency),
                "tax_rate": str(line.invoice_line.tax_rate.normalize()),
                "tax": _money(line.tax, currency),
                "total": _money(line.total, currency),
            }
            for line in lines
        ],
        "tax": _tax(invoice, [(line.invoice_line.tax_rate, line.net, line.tax) for line in lines]),
        "net": _money(note.subtotal, currency),
        "tax_total": _money(note.tax, currency),
        "total": _money(note.total, currency),
    }
