"""Charging an invoice: payments with attempt rows and idempotency keys committed before the gateway is called, the one state machine every result goes through, and reconciliation."""

import logging
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone

from integrations.kernel.db import update_rows
from integrations.kernel.errors import DomainError, InvalidRequest, Unprocessable
from integrations.services import event_emit, events_emit
from payments import hooks
from payments.gateways.base import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
)
from payments.gateways.registry import gateway_class, gateway_for
from payments.locks import payment_lock
from payments.models import (
    Customer,
    Invoice,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    payment_idempotency_key,
)
from payments.representations import (
    payment_repr,
)
from payments.selectors import gateway_customer_reference_known
from payments.services.gateway_health import gateway_answered, gateway_unanswered
from payments.services.invoices import PAYABLE_STATUSES, invoice_attempts_begun, invoices_mark_paid
from payments.services.payment_methods import gateway_customer_reference, setup_authentication_return
from payments.services.refunds import payment_refund

logger = logging.getLogger("payments")


OPEN_PAYMENT_STATUSES = (Payment.Status.PROCESSING, Payment.Status.REQUIRES_ACTION)


def invoice_pay(
    *, invoice: Invoice, payment_method: PaymentMethod, off_session: bool = False, return_url: str = ""
) -> Payment:
    """Charge an open invoice to a card. The payment row and its idempotency key are committed
    before the gateway is called, so a crash leaves a `processing` payment to reconcile, never a
    charge we do not know about; an invoice with a payment under way is not charged again."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(of=("self",)).select_related("customer").get(pk=invoice.pk)
        if invoice.status != Invoice.Status.OPEN:
            raise Unprocessable(f"A {invoice.status} invoice cannot be charged.", code="invoice_not_payable")
        under_way = invoice.payments.filter(status__in=OPEN_PAYMENT_STATUSES).first()
        if under_way is not None:
            return under_way
        if payment_method.detached_at is not None or payment_method.customer_id != invoice.customer_id:
            raise InvalidRequest("No such payment method.", code="resource_missing", param="payment_method")
        payment = Payment.objects.create(
            customer=invoice.customer,  # instances, not ids: the charge below reads them without a query
            invoice=invoice,
            gateway_account=payment_method.gateway_account,
            payment_method=payment_method,
            amount=invoice.total,
            off_session=off_session,
            return_url=return_url,
            attempts=1,
        )
        PaymentAttempt.objects.create(payment=payment, number=1, idempotency_key=payment.current_idempotency_key)
        invoice_attempts_begun([invoice.pk])
    return _payment_attempt_run(payment=payment)


def payment_retry(
    *, payment: Payment, off_session: bool = True, payment_method: PaymentMethod | None = None, return_url: str = ""
) -> Payment:
    """Charge a failed payment's invoice again, as a new attempt with a new idempotency key,
    optionally with another card (same gateway) or on-session with a return URL."""
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        if payment.status not in (Payment.Status.FAILED, Payment.Status.CANCELED):
            return payment
        if payment.invoice.status != Invoice.Status.OPEN:
            return payment
        if payment_method is not None:
            if payment_method.customer_id != payment.customer_id or payment_method.detached_at is not None:
                raise InvalidRequest("No such payment method.", code="resource_missing", param="payment_method")
            payment.payment_method = payment_method
            payment.gateway_account_id = payment_method.gateway_account_id
        payment.return_url = return_url or payment.return_url
        payment.attempts += 1
        payment.status = Payment.Status.PROCESSING
        payment.decline_code = payment.failure_message = payment.next_action_url = ""
        payment.off_session = off_session
        payment.save(
            update_fields=[
                "attempts",
                "status",
                "decline_code",
                "failure_message",
                "next_action_url",
                "off_session",
                "payment_method",
                "gateway_account",
                "return_url",
                "updated_at",
            ]
        )
        PaymentAttempt.objects.create(
            payment=payment, number=payment.attempts, idempotency_key=payment.current_idempotency_key
        )
        invoice_attempts_begun([payment.invoice_id])
    return _payment_attempt_run(payment=payment)


def _payment_attempt_run(*, payment: Payment) -> Payment:
    method = payment.payment_method
    account = payment.gateway_account
    request = ChargeRequest(
        amount=payment.amount,
        idempotency_key=payment.current_idempotency_key,
        payment_method_reference=method.gateway_reference,
        customer_reference=gateway_customer_reference(customer=payment.customer, account=account),
        off_session=payment.off_session,
        return_url=payment.return_url,
        description=payment.invoice.number or payment.invoice_id,
        metadata={"payment": payment.id, "invoice": payment.invoice_id},
    )
    try:
        result = gateway_for(account).charge(request)
    except Exception as error:  # a timeout or a crash at the edge: the charge may or may not exist
        logger.warning("Charge %s ended without an answer: %s", request.idempotency_key, type(error).__name__)
        result = ChargeResult(ChargeStatus.UNKNOWN, message=type(error).__name__)
    if result.status == ChargeStatus.UNKNOWN:
        gateway_unanswered(account=account, message=result.message or "charge unanswered")
    else:
        gateway_answered(account=account)
    return payment_apply_result(payment=payment, attempt=payment.attempts, result=result)


@transaction.atomic
def payment_apply_result(*, payment: Payment, attempt: int, result: ChargeResult) -> Payment:
    """Move a payment on from what the gateway said. Safe to run twice: a payment that already
    reached that state, or a result for an older attempt, changes nothing."""
    payment = payment_lock(payment.pk)
    if attempt != payment.attempts or payment.status not in OPEN_PAYMENT_STATUSES:
        return payment
    PaymentAttempt.objects.filter(payment=payment, number=attempt).update(
        outcome=result.status.value,
        decline_code=result.decline_code,
        gateway_reference=result.reference,
        completed_at=None if result.status == ChargeStatus.UNKNOWN else timezone.now(),
    )
    if result.reference:
        payment.gateway_reference = result.reference
    if result.status == ChargeStatus.UNKNOWN:
        payment.save(update_fields=["gateway_reference", "updated_at"])
        return payment
    if result.status == ChargeStatus.REQUIRES_ACTION:
        if payment.status == Payment.Status.REQUIRES_ACTION:
            return payment
        payment.status, payment.next_action_url = Payment.Status.REQUIRES_ACTION, result.action_url
        payment.save(update_fields=["status", "next_action_url", "gateway_reference", "updated_at"])
        event_emit(
            type="payment.requires_action",
            payload={"payment": payment_repr(payment)},
            customer_id=payment.customer_id,
        )
        return payment
    if result.status == ChargeStatus.SUCCEEDED:
        payments_mark_succeeded(captured=[(payment, result)])
        return payment
    payment.status = Payment.Status.FAILED
    payment.decline_code = result.decline_code or "card_declined"
    payment.failure_message = (result.message or "The payment failed.")[:255]
    payment.next_action_url = ""
    payment.save()
    event_emit(type="payment.failed", payload={"payment": payment_repr(payment)}, customer_id=payment.customer_id)
    hooks.run("invoice_payment_failed", invoice=payment.invoice, payment=payment)
    return payment


def payments_mark_succeeded(*, captured: list[tuple[Payment, ChargeResult]]) -> list[Payment]:
    """The one step that settles captured payments, for a single charge and the billing engine's
    batch alike: each payment succeeded with its fee, the customer's currency fixed by a first
    payment, `payment.succeeded`; the invoices still payable are paid (`invoices_mark_paid`, which
    runs the higher apps' settlement handlers). A capture on an invoice no longer payable (voided by
    a cancel or a pause while the charge was open, or paid meanwhile by another payment) is refunded
    after commit, and by the reconciliation sweep should that refund never start. The caller holds
    the payments' locks and has checked that each is still open."""
    if not captured:
        return []
    now = timezone.now()
    payments = []
    for payment, result in captured:
        payment.status, payment.captured_at, payment.next_action_url = Payment.Status.SUCCEEDED, now, ""
        payment.gateway_reference = result.reference or payment.gateway_reference
        if result.fee is not None:
            payment.fee, payment.net = result.fee, payment.amount - result.fee
        payment.updated_at = now
        payments.append(payment)
    update_rows(payments, [*_SUCCEEDED_FIELDS])
    customers_by_currency: dict[str, set[str]] = {}
    for payment in payments:
        customers_by_currency.setdefault(payment.amount.currency.code, set()).add(payment.customer_id)
    for currency, customer_ids in customers_by_currency.items():
        Customer.objects.filter(pk__in=customer_ids, currency_fixed_at__isnull=True).update(
            currency=currency, currency_fixed_at=now
        )
    prefetch_related_objects(payments, "attempt_log")  # the events show attempts: one query, not one per payment
    events_emit([("payment.succeeded", {"payment": payment_repr(p)}, p.customer_id) for p in payments])
    invoices = Invoice.objects.select_for_update().in_bulk([p.invoice_id for p in payments])
    payable = []
    for payment in payments:
        payment.invoice = invoices[payment.invoice_id]
        if payment.invoice.status in PAYABLE_STATUSES:
            payable.append((payment.invoice, payment))
        else:
            transaction.on_commit(partial(_refund_unpayable_capture, payment.pk), robust=True)
    invoices_mark_paid(paid=payable)
    return payments


_SUCCEEDED_FIELDS = (
    "status",
    "captured_at",
    "next_action_url",
    "gateway_reference",
    "fee",
    "fee_currency",
    "net",
    "net_currency",
    "updated_at",
)
_UNPAYABLE_REASON = "invoice voided or already paid before the payment completed"


def _refund_unpayable_capture(payment_id: str) -> bool:
    try:
        payment_refund(payment=Payment.objects.get(pk=payment_id), reason=_UNPAYABLE_REASON)
    except DomainError as error:  # refunded meanwhile (the sweep, an operator): nothing is left to give back
        logger.info("No refund for %s: %s", payment_id, error.message)
        return False
    return True


def payment_sync(*, payment: Payment) -> Payment:
    """Ask the gateway where a payment stands and move it on (after 3-D Secure, a webhook, or for
    reconciliation). Never charges."""
    payment = Payment.objects.select_related("gateway_account").get(pk=payment.pk)
    if payment.status not in OPEN_PAYMENT_STATUSES:
        return payment
    attempt = payment.attempts
    try:
        result = gateway_for(payment.gateway_account).lookup(
            reference=payment.gateway_reference,
            idempotency_key=payment_idempotency_key(payment.id, attempt),
            customer_reference=gateway_customer_reference_known(
                customer_id=payment.customer_id, gateway_account_id=payment.gateway_account_id
            ),
        )
    except Exception as error:
        logger.warning("Lookup of %s failed: %s", payment.id, type(error).__name__)
        return payment
    never_sent = (
        result.status == ChargeStatus.FAILED and result.decline_code == "processing_error" and not result.reference
    )
    if never_sent and payment.off_session and payment.status == Payment.Status.PROCESSING:
        # A renewal whose charge never reached the gateway (a worker died first): send it now under
        # the same idempotency key, so the gateway can take it at most once.
        return _payment_attempt_run(payment=payment)
    unanswered = result.status == ChargeStatus.UNKNOWN and not payment.gateway_reference
    if (
        unanswered
        and payment.status == Payment.Status.PROCESSING
        and gateway_class(payment.gateway_account).replays_by_key
    ):
        # A gateway that cannot be asked, whose answer never came: the same request under the same
        # key answers what it did with the first (or makes it, if the first never arrived).
        return _payment_attempt_run(payment=payment)
    return payment_apply_result(payment=payment, attempt=attempt, result=result)


def payment_authentication_return(*, gateway_account_id: str, idempotency_key: str, params: dict) -> Payment | None:
    """The cardholder is back from 3-D Secure on our return page (gateways that send them to us,
    Adyen): the gateway finishes the charge from what it put in the URL, and the attempt moves on.
    Only an attempt still waiting is finished, so a late return cannot take money for a payment
    given up on. A card setup's key (a trial's) is finished by `setup_authentication_return`;
    None then."""
    attempt = (
        PaymentAttempt.objects.filter(idempotency_key=idempotency_key, payment__gateway_account_id=gateway_account_id)
        .select_related("payment__gateway_account")
        .first()
    )
    if attempt is None:
        setup_authentication_return(
            gateway_account_id=gateway_account_id, idempotency_key=idempotency_key, params=params
        )
        return None
    payment = attempt.payment
    if payment.status != Payment.Status.REQUIRES_ACTION or payment.attempts != attempt.number:
        return payment
    try:
        result = gateway_for(payment.gateway_account).authentication_complete(
            reference=payment.gateway_reference, idempotency_key=idempotency_key, params=params
        )
    except Exception as error:  # the notification or the sweep settles it
        logger.warning("Finishing %s after 3-D Secure failed: %s", payment.id, type(error).__name__)
        return payment
    return payment_apply_result(payment=payment, attempt=attempt.number, result=result)


def payment_apply_notice(*, gateway_account_id: str, idempotency_key: str, result: ChargeResult) -> Payment | None:
    """A gateway's notification of a charge's outcome (Adyen's AUTHORISATION), for the attempt its
    idempotency key names; an older attempt's or a finished payment's changes nothing."""
    attempt = PaymentAttempt.objects.filter(
        idempotency_key=idempotency_key, payment__gateway_account_id=gateway_account_id
    ).first()
    if attempt is None:
        return None
    payment = Payment.objects.get(pk=attempt.payment_id)
    if result.status == ChargeStatus.SUCCEEDED and payment.status in (Payment.Status.FAILED, Payment.Status.CANCELED):
        logger.error(
            "Gateway captured %s after we gave it up (%s): refund it at the gateway", payment.id, result.reference
        )
    return payment_apply_result(payment=payment, attempt=attempt.number, result=result)


def payment_cancel(*, payment: Payment, reason: str = "abandoned") -> Payment:
    """Give up on a payment still waiting for the customer (3-D Secure never completed). The gateway
    calls the charge off first, so a late answer to the challenge cannot take money for a canceled
    payment; if the customer finished just before, the payment settles instead."""
    payment = Payment.objects.select_related("gateway_account").get(pk=payment.pk)
    if payment.status != Payment.Status.REQUIRES_ACTION:
        return payment
    attempt = payment.attempts
    try:
        result = gateway_for(payment.gateway_account).cancel(
            reference=payment.gateway_reference, idempotency_key=payment_idempotency_key(payment.id, attempt)
        )
    except Exception as error:  # the next sweep asks again
        logger.warning("Cancel of %s failed: %s", payment.id, type(error).__name__)
        return payment
    if result.status == ChargeStatus.SUCCEEDED:
        return payment_apply_result(payment=payment, attempt=attempt, result=result)
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        if payment.status != Payment.Status.REQUIRES_ACTION or payment.attempts != attempt:
            return payment
        payment.status, payment.failure_message, payment.next_action_url = Payment.Status.CANCELED, reason, ""
        payment.save(update_fields=["status", "failure_message", "next_action_url", "updated_at"])
        event_emit(type="payment.canceled", payload={"payment": payment_repr(payment)}, customer_id=payment.customer_id)
        hooks.run("invoice_payment_failed", invoice=payment.invoice, payment=payment)
    return payment


def payments_reconcile(
    *, as_of=None, processing_after: timedelta = timedelta(minutes=5), abandon_after: timedelta = timedelta(hours=23)
) -> dict:
    """The scheduled sweep: ask the gateway about payments left `processing` (timeouts, crashes)
    or waiting on the customer, and cancel authentications never completed. Safe to run twice."""
    now = as_of or timezone.now()
    counts = {"synced": 0, "canceled": 0, "refunded": 0}
    stale = Payment.objects.filter(status__in=OPEN_PAYMENT_STATUSES, updated_at__lt=now - processing_after)
    for payment in stale.order_by("updated_at")[:500]:
        try:
            synced = payment_sync(payment=payment)
        except Exception:  # one payment must not stop the sweep for the others
            logger.exception("Reconciling %s failed", payment.id)
            continue
        counts["synced"] += 1
        if synced.status == Payment.Status.REQUIRES_ACTION and synced.created_at < now - abandon_after:
            payment_cancel(payment=synced)
            counts["canceled"] += 1
    stranded = Payment.objects.filter(
        status__in=(Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED),
        invoice__status=Invoice.Status.VOID,
        amount_refunded__lt=F("amount"),
    )
    for payment_id in stranded.values_list("pk", flat=True)[:500]:  # a refund after commit that never started
        counts["refunded"] += _refund_unpayable_capture(payment_id)
    return counts


def payment_sync_by_reference(*, reference: str, gateway_account_id: str | None = None) -> Payment | None:
    """Move on the payment behind a gateway reference (a 3-D Secure return, a webhook)."""
    payments = Payment.objects.filter(gateway_reference=reference)
    if gateway_account_id:
        payments = payments.filter(gateway_account_id=gateway_account_id)
    payment = payments.first()
    return payment_sync(payment=payment) if payment else None
