"""The billing engine's set-based path: many one-line invoices and off-session payments in a few statements."""

import logging
from dataclasses import dataclass

from django.utils import timezone

from integrations.services import events_emit
from payments.gateways.base import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
)
from payments.gateways.registry import gateway_for
from payments.models import (
    GatewayAccount,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    PaymentMethod,
)
from payments.representations import (
    invoice_repr,
)
from payments.services.charges import payments_mark_succeeded
from payments.services.documents import invoices_documents_freeze
from payments.services.invoices import (
    NO_TERMS,
    LineSpec,
    TaxTerms,
    buyers_load,
    invoice_attempts_begun,
    invoice_build,
    invoice_numbers_reserve,
)
from payments.tax.selectors import tax_table_load

logger = logging.getLogger("payments")


@dataclass(frozen=True)
class InvoiceSpec:
    customer_id: str
    currency: str
    line: LineSpec
    source: str
    description: str = ""
    terms: TaxTerms = NO_TERMS


def invoices_issue_batch(*, specs: list[InvoiceSpec]) -> list[Invoice]:
    """Open, numbered one-line invoices for many customers in a few statements, with their
    invoice.created events and what their PDFs will say (frozen as one by one, rendered on first
    need): built by `invoice_build` as one by one, from the buyers and the tax table read once for
    the batch. Runs in the caller's transaction; sources must be new."""
    if not specs:
        return []
    now = timezone.now()
    buyers = buyers_load({spec.customer_id for spec in specs})
    table = tax_table_load()
    numbers = invoice_numbers_reserve(year=now.year, count=len(specs))
    invoices, lines = [], []
    for spec, number in zip(specs, numbers, strict=True):
        invoice, (line,) = invoice_build(
            buyer=buyers[spec.customer_id],
            currency=spec.currency,
            lines=[spec.line],
            terms=spec.terms,
            source=spec.source,
            description=spec.description,
            table=table,
        )
        invoice.number, invoice.status, invoice.finalized_at = number, Invoice.Status.OPEN, now
        invoices.append(invoice)
        lines.append(line)
    Invoice.objects.bulk_create(invoices)
    InvoiceLine.objects.bulk_create(lines)
    invoices_documents_freeze(invoices=invoices, lines={i.id: [line] for i, line in zip(invoices, lines, strict=True)})
    events_emit(
        [
            ("invoice.created", {"invoice": invoice_repr(invoice, lines=[line], credit_notes=[])}, invoice.customer_id)
            for invoice, line in zip(invoices, lines, strict=True)
        ]
    )
    return invoices


def payments_start_batch(*, invoices: list[Invoice], methods: list[PaymentMethod]) -> list[Payment]:
    """Off-session payments (attempt 1, `processing`) for open invoices, with their attempt rows
    and idempotency keys. Runs in the caller's transaction, which must commit before charging."""
    payments = [
        Payment(
            customer_id=invoice.customer_id,
            invoice=invoice,
            gateway_account_id=method.gateway_account_id,
            payment_method=method,
            amount=invoice.total,
            off_session=True,
            attempts=1,
        )
        for invoice, method in zip(invoices, methods, strict=True)
    ]
    Payment.objects.bulk_create(payments)
    PaymentAttempt.objects.bulk_create(
        [PaymentAttempt(payment=p, number=1, idempotency_key=p.current_idempotency_key) for p in payments]
    )
    invoice_attempts_begun([p.invoice_id for p in payments])
    return payments


def payments_charge_batch(*, payments: list[Payment]) -> list[ChargeResult]:
    """Charge started payments, per gateway account; a gateway that `supports_batch` takes them all
    in one call. A gateway that gives no answer leaves UNKNOWN (reconciliation asks later)."""
    results: dict[str, ChargeResult] = {}
    by_account: dict[str, list[Payment]] = {}
    for payment in payments:
        by_account.setdefault(payment.gateway_account_id, []).append(payment)
    accounts = GatewayAccount.objects.in_bulk(list(by_account))
    for account_id, group in by_account.items():
        gateway = gateway_for(accounts[account_id])
        requests = [
            ChargeRequest(
                amount=p.amount,
                idempotency_key=p.current_idempotency_key,
                payment_method_reference=p.payment_method.gateway_reference,
                off_session=True,
                description=p.invoice.number or p.invoice_id,
                metadata={"payment": p.id, "invoice": p.invoice_id},
            )
            for p in group
        ]
        try:
            if gateway.supports_batch:
                answers = gateway.charge_many(requests)
            else:
                answers = [_charge_or_unknown(gateway, request) for request in requests]
        except Exception as error:
            logger.warning("Batch charge on %s ended without an answer: %s", account_id, type(error).__name__)
            answers = [ChargeResult(ChargeStatus.UNKNOWN) for _ in requests]
        results.update({p.id: answer for p, answer in zip(group, answers, strict=True)})
    return [results[p.id] for p in payments]


def _charge_or_unknown(gateway, request: ChargeRequest) -> ChargeResult:
    try:
        return gateway.charge(request)
    except Exception as error:
        logger.warning("Charge %s ended without an answer: %s", request.idempotency_key, type(error).__name__)
        return ChargeResult(ChargeStatus.UNKNOWN)


def payments_settle_batch(*, payments: list[Payment], results: list[ChargeResult]) -> list[Payment]:
    """Settle the payments of a batch the gateway captured, through the same step as a single
    charge (`payments_mark_succeeded`: invoices paid and the settlement handlers run, or a capture
    on an invoice voided meanwhile refunded). Runs in the caller's transaction; payments no longer
    `processing` are left out, and so are other results (the caller applies them one by one)."""
    ids = [p.id for p in payments]
    locked = {
        p.id: p
        for p in Payment.objects.select_for_update(of=("self",))
        .select_related("payment_method")
        .filter(pk__in=ids, status=Payment.Status.PROCESSING, attempts=1)
    }
    captured = [
        (locked[payment.id], result)
        for payment, result in zip(payments, results, strict=True)
        if payment.id in locked and result.status == ChargeStatus.SUCCEEDED
    ]
    PaymentAttempt.objects.filter(payment__in=[payment for payment, _ in captured], number=1).update(
        outcome=ChargeStatus.SUCCEEDED.value, completed_at=timezone.now()
    )  # before the events, which show the attempts
    return payments_mark_succeeded(captured=captured)
