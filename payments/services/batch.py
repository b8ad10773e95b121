"""The billing engine's set-based path: many one-line invoices and off-session payments in a few statements."""

import logging
from dataclasses import dataclass

from django.utils import timezone

from integrations.kernel.db import update_rows
from integrations.models import Event
from integrations.services import frozen_payload as _frozen
from payments.currency import (
    money,
)
from payments.gateways.base import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
)
from payments.gateways.registry import gateway_for
from payments.models import (
    Customer,
    GatewayAccount,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    PaymentMethod,
)
from payments.representations import (
    invoice_payload,
    payment_payload,
)
from payments.services.invoices import LineSpec, invoice_numbers_reserve

logger = logging.getLogger("payments")


@dataclass(frozen=True)
class InvoiceSpec:
    customer_id: str
    currency: str
    line: LineSpec
    source: str
    description: str = ""


def invoices_issue_batch(*, specs: list[InvoiceSpec]) -> list[Invoice]:
    """Open, numbered one-line invoices for many customers in a few statements, with their
    invoice.created events. Runs in the caller's transaction; sources must be new."""
    if not specs:
        return []
    now = timezone.now()
    numbers = invoice_numbers_reserve(year=now.year, count=len(specs))
    invoices, lines, events = [], [], []
    for spec, number in zip(specs, numbers, strict=True):
        unit = money(spec.line.unit_amount.amount, spec.currency)
        zero = money(0, spec.currency)
        invoice = Invoice(
            customer_id=spec.customer_id,
            currency=spec.currency,
            number=number,
            status=Invoice.Status.OPEN,
            subtotal=unit,
            discount_total=zero,
            tax_total=zero,
            total=unit,
            source=spec.source,
            description=spec.description[:255],
            finalized_at=now,
        )
        invoices.append(invoice)
        lines.append(
            InvoiceLine(
                invoice=invoice,
                position=1,
                description=spec.line.description[:255],
                quantity=1,
                unit_amount=unit,
                discount_amount=zero,
                tax_amount=zero,
                total=unit,
                reference=spec.line.reference,
            )
        )
        events.append(
            Event(
                type="invoice.created",
                payload=_frozen({"invoice": invoice_payload(invoice)}),
                customer_id=spec.customer_id,
            )
        )
    Invoice.objects.bulk_create(invoices)
    InvoiceLine.objects.bulk_create(lines)
    Event.objects.bulk_create(events)
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
    return payments


def payments_charge_batch(*, payments: list[Payment]) -> list[ChargeResult]:
    """Charge started payments, per gateway account; a gateway with `charge_many` takes them all
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
            if hasattr(gateway, "charge_many"):
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


def payments_apply_succeeded_batch(*, payments: list[Payment], results: list[ChargeResult]) -> list[Payment]:
    """Settle payments the gateway captured, and their invoices, in a few statements, with the
    payment.succeeded and invoice.paid events. For callers that settle what the invoices were for
    themselves (the billing engine): the invoice_paid hook is not run. Runs in the caller's
    transaction; payments no longer `processing` are left out."""
    ids = [p.id for p in payments]
    locked = {p.id: p for p in Payment.objects.select_for_update().filter(pk__in=ids, status=Payment.Status.PROCESSING)}
    now = timezone.now()
    settled, events = [], []
    for payment, result in zip(payments, results, strict=True):
        if payment.id not in locked or result.status != ChargeStatus.SUCCEEDED:
            continue
        payment.status, payment.captured_at, payment.gateway_reference = Payment.Status.SUCCEEDED, now, result.reference
        if result.fee is not None:
            payment.fee, payment.net = result.fee, payment.amount - result.fee
        settled.append(payment)
        events.append(
            Event(
                type="payment.succeeded",
                payload=_frozen({"payment": payment_payload(payment)}),
                customer_id=payment.customer_id,
            )
        )
    if not settled:
        return []
    for payment in settled:
        payment.updated_at = now
    update_rows(
        settled,
        ["status", "captured_at", "gateway_reference", "fee", "fee_currency", "net", "net_currency", "updated_at"],
    )
    PaymentAttempt.objects.filter(payment__in=settled, number=1).update(
        outcome=ChargeStatus.SUCCEEDED.value, completed_at=now
    )
    invoice_ids = [p.invoice_id for p in settled]
    Invoice.objects.filter(pk__in=invoice_ids, status=Invoice.Status.OPEN).update(
        status=Invoice.Status.PAID, paid_at=now
    )
    by_currency: dict[str, set[str]] = {}
    for payment in settled:
        by_currency.setdefault(payment.amount.currency.code, set()).add(payment.customer_id)
    for currency, customer_ids in by_currency.items():  # the first payment fixes the customer's currency
        Customer.objects.filter(pk__in=customer_ids, currency_fixed_at__isnull=True).update(
            currency=currency, currency_fixed_at=now
        )
    for payment in settled:
        invoice = payment.invoice
        invoice.status, invoice.paid_at = Invoice.Status.PAID, now
        events.append(
            Event(
                type="invoice.paid",
                payload=_frozen({"invoice": invoice_payload(invoice)}),
                customer_id=payment.customer_id,
            )
        )
    Event.objects.bulk_create(events)
    return settled
