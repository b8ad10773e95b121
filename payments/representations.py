"""How payments' resources look outside: one function each, which the API answers with and
events carry (the API serializers only describe them)."""

from typing import TYPE_CHECKING

from django.db.models import Prefetch, prefetch_related_objects
from moneyed import Money

from integrations.kernel.representation import datetime_repr
from payments.currency import money_repr
from payments.models import (
    CreditNote,
    CreditNoteLine,
    Customer,
    GatewayAccount,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    Payout,
    Refund,
)
from payments.tax.rules import rate_repr

if TYPE_CHECKING:
    from payments.services.invoices import PriceQuote


def customer_repr(customer: Customer) -> dict:
    return {
        "id": customer.id,
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "country": customer.country,
        "subdivision": customer.subdivision or None,
        "currency": customer.currency,
        "business_name": customer.business_name,
        "tax_id": customer.tax_id,
        "tax_id_status": customer.tax_id_status,
        "tax_id_country": customer.tax_id_country or None,
        "tax_id_verified_at": datetime_repr(customer.tax_id_verified_at),
        "preferred_locale": customer.preferred_locale or None,
        "billing_address": customer.billing_address or None,
        "created_at": datetime_repr(customer.created_at),
        "updated_at": datetime_repr(customer.updated_at),
        "erased_at": datetime_repr(customer.erased_at),
    }


def price_tax_repr(quote: "PriceQuote") -> dict | None:
    """The tax of a quoted price (`price_tax` of a customer's plan): null where none applies;
    under the reverse charge rate "0" and amount 0."""
    if not quote.taxed:
        return None
    return {"rate": rate_repr(quote.rate), "amount": money_repr(quote.tax), "inclusive": quote.inclusive}


def gateway_account_repr(account: GatewayAccount) -> dict:
    """An operator's gateway account (events only: its credentials never leave the admin)."""
    return {
        "id": account.id,
        "provider": account.provider,
        "display_name": account.display_name,
        "region": account.region,
        "countries": account.countries,
        "currencies": account.currencies,
        "priority": account.priority,
        "active": account.active,
    }


def payment_method_repr(method: PaymentMethod) -> dict:
    return {
        "id": method.id,
        "customer": method.customer_id,
        "gateway": method.gateway_account_id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "country": method.country or None,
        "is_default": method.is_default,
        "created_at": datetime_repr(method.created_at),
    }


def invoice_line_repr(line: InvoiceLine) -> dict:
    """API.md's line: `amount` before discounts, `net` after them without tax, `total` charged
    (and, from the first release, the quantity, unit amount and the *_amount names)."""
    amount = line.unit_amount * line.quantity
    return {
        "description": line.description,
        "amount": money_repr(amount),
        "discount": money_repr(line.discount_amount),
        "net": money_repr(line.net),
        "tax_rate": rate_repr(line.tax_rate),
        "tax": money_repr(line.tax_amount),
        "total": money_repr(line.total),
        "quantity": line.quantity,
        "unit_amount": money_repr(line.unit_amount),
        "discount_amount": money_repr(line.discount_amount),
        "tax_amount": money_repr(line.tax_amount),
        "reference": line.reference,
    }


TAXED_STATUSES = (Invoice.TaxStatus.COLLECTING, Invoice.TaxStatus.REVERSE_CHARGE)


def tax_breakdown(*, invoice: Invoice, rates_nets_taxes) -> list[dict]:
    """The tax per rate of an invoice (or of a credit note on it, from its lines' rates): what it
    was taxed at, on how much. Empty where no tax applied (no registration, no rate)."""
    if invoice.tax_status not in TAXED_STATUSES:
        return []
    currency = invoice.currency
    rows: dict = {}
    for rate, net, tax in rates_nets_taxes:
        taxable, taxed = rows.get(rate, (Money(0, currency), Money(0, currency)))
        rows[rate] = (taxable + net, taxed + tax)
    return [
        {
            "country": invoice.tax_country,
            "subdivision": invoice.tax_subdivision or None,
            "rate": rate_repr(rate),
            "taxable": money_repr(taxable),
            "tax": money_repr(taxed),
            "reverse_charge": invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE,
        }
        for rate, (taxable, taxed) in rows.items()
    ]


def tax_evidence_repr(invoice: Invoice) -> dict:
    return {
        "billing_country": invoice.billing_country or None,
        "card_country": invoice.card_country or None,
        "ip_country": invoice.ip_country or None,
        "conclusive": invoice.tax_evidence_conclusive,
    }


def invoice_repr(
    invoice: Invoice, *, lines: list[InvoiceLine] | None = None, credit_notes: list[str] | None = None
) -> dict:
    """`lines`, `credit_notes` (their ids): when the caller has them at hand (a batch just made the
    invoice: none); otherwise read (prefetched by the list selectors)."""
    lines = list(invoice.lines.all()) if lines is None else lines
    if credit_notes is None:
        credit_notes = [note.id for note in invoice.credit_notes.all()]
    return {
        "id": invoice.id,
        "number": invoice.number,
        "customer": invoice.customer_id,
        "status": invoice.status,
        "currency": invoice.currency,
        "description": invoice.description,
        "subtotal": money_repr(invoice.subtotal),
        "discount": money_repr(invoice.discount_total),
        "tax": money_repr(invoice.tax_total),
        "total": money_repr(invoice.total),
        "discount_total": money_repr(invoice.discount_total),
        "tax_total": money_repr(invoice.tax_total),
        "tax_inclusive": invoice.tax_inclusive,
        "tax_status": invoice.tax_status,
        "reverse_charge": invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE,
        "tax_breakdown": tax_breakdown(
            invoice=invoice, rates_nets_taxes=[(line.tax_rate, line.net, line.tax_amount) for line in lines]
        ),
        "tax_evidence": tax_evidence_repr(invoice),
        "buyer": {"business_name": invoice.buyer_business_name or None, "tax_id": invoice.buyer_tax_id or None},
        "lines": [invoice_line_repr(line) for line in lines],
        "created_at": datetime_repr(invoice.created_at),
        "finalized_at": datetime_repr(invoice.finalized_at),
        "paid_at": datetime_repr(invoice.paid_at),
        "voided_at": datetime_repr(invoice.voided_at),
        "attempt_count": invoice.attempt_count,
        "next_attempt_at": datetime_repr(invoice.next_attempt_at),
        "credit_notes": credit_notes,
    }


def invoice_reprs(invoices: list[Invoice]) -> list[dict]:
    """Many invoices' representations, their lines and credit notes read in one query each (the
    batch paths) and kept on the instances, so a response made from them reads nothing again."""
    prefetch_related_objects(
        invoices, "lines", Prefetch("credit_notes", queryset=CreditNote.objects.order_by("created_at", "id"))
    )
    return [invoice_repr(invoice) for invoice in invoices]


def credit_note_repr(note: CreditNote, *, lines: list[CreditNoteLine] | None = None) -> dict:
    """`lines`: the note's lines when the caller has them at hand (it just made them)."""
    if lines is None:  # prefetched by the list selector (with their invoice lines), else read here
        prefetched = "lines" in getattr(note, "_prefetched_objects_cache", {})
        lines = list(note.lines.all() if prefetched else note.lines.select_related("invoice_line"))
    return {
        "id": note.id,
        "number": note.number,
        "invoice": note.invoice_id,
        "refund": note.refund_id,
        "currency": note.currency,
        "lines": [
            {
                "invoice_line": line.invoice_line.position,
                "description": line.invoice_line.description,
                "net": money_repr(line.net),
                "tax": money_repr(line.tax),
                "total": money_repr(line.total),
            }
            for line in lines
        ],
        "subtotal": money_repr(note.subtotal),
        "tax": money_repr(note.tax),
        "total": money_repr(note.total),
        "tax_breakdown": tax_breakdown(
            invoice=note.invoice,
            rates_nets_taxes=[(line.invoice_line.tax_rate, line.net, line.tax) for line in lines],
        ),
        "created_at": datetime_repr(note.created_at),
    }


def payment_next_action(payment: Payment) -> dict | None:
    if payment.status != Payment.Status.REQUIRES_ACTION or not payment.next_action_url:
        return None
    return {"type": "redirect_to_url", "url": payment.next_action_url}


def payment_attempt_repr(attempt: PaymentAttempt) -> dict:
    return {
        "number": attempt.number,
        "outcome": attempt.outcome or "pending",
        "decline_code": attempt.decline_code or None,
        "created_at": datetime_repr(attempt.created_at),
    }


def payment_repr(payment: Payment) -> dict:
    """Its attempts are read once per payment unless prefetched (`attempt_log`)."""
    return {
        "id": payment.id,
        "customer": payment.customer_id,
        "invoice": payment.invoice_id,
        "gateway": payment.gateway_account_id,
        "payment_method": payment.payment_method_id,
        "status": payment.status,
        "amount": money_repr(payment.amount),
        "amount_refunded": money_repr(Money(payment.amount_refunded, payment.amount.currency)),
        "decline_code": payment.decline_code or None,
        "failure_message": payment.failure_message,
        "next_action": payment_next_action(payment),
        "attempts": [payment_attempt_repr(attempt) for attempt in payment.attempt_log.all()],
        "off_session": payment.off_session,
        "fee": money_repr(payment.fee) if payment.fee is not None else None,
        "net": money_repr(payment.net) if payment.net is not None else None,
        "payout": payment.payout_id,
        "captured_at": datetime_repr(payment.captured_at),
        "created_at": datetime_repr(payment.created_at),
        "updated_at": datetime_repr(payment.updated_at),
    }


def refund_repr(refund: Refund) -> dict:
    return {
        "id": refund.id,
        "payment": refund.payment_id,
        "amount": money_repr(refund.amount),
        "status": refund.status,
        "reason": refund.reason,
        "failure_message": refund.failure_message,
        "created_at": datetime_repr(refund.created_at),
    }


def payout_repr(payout: Payout) -> dict:
    """A payout to the operator's bank (events only)."""
    return {
        "id": payout.id,
        "gateway": payout.gateway_account_id,
        "amount": money_repr(payout.amount),
        "fee_total": money_repr(payout.fee_total),
        "payments": payout.payments.count(),
        "arrival_date": payout.arrival_date.isoformat(),
    }
