"""Refunds: the amount reserved on the payment under lock before the gateway is called."""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from moneyed import Money

from integrations.kernel.errors import InvalidRequest, Unprocessable
from integrations.services import event_emit
from payments import hooks
from payments.currency import (
    format_amount,
    money,
)
from payments.gateways.base import (
    RefundResult,
    RefundStatus,
)
from payments.gateways.registry import gateway_for
from payments.locks import payment_lock
from payments.models import (
    Payment,
    Refund,
)
from payments.representations import (
    payment_repr,
    refund_repr,
)
from payments.services.credit_notes import credit_note_issue

logger = logging.getLogger("payments")

# Longer than any refund request can last (the SDK's three tries of 30 s and their back-off): a
# refund the gateway does not hold, last sent longer ago than this, cannot still be on its way.
REFUND_IN_FLIGHT = timedelta(minutes=30)


def payment_refund(*, payment: Payment, amount: Money | None = None, reason: str = "") -> Refund:
    """Give money back: all that is left by default. The amount is reserved on the payment (a
    database constraint keeps the sum within what was captured) before the gateway is called."""
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        if payment.status not in (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED):
            raise Unprocessable(f"A {payment.status} payment cannot be refunded.", code="payment_not_refundable")
        currency = payment.amount.currency.code
        left = payment.amount.amount - payment.amount_refunded
        if left <= 0:
            raise Unprocessable(
                "Nothing is left to refund on this payment.", code="refund_exceeds_payment", param="amount"
            )
        value = left if amount is None else money(amount.amount, currency).amount
        if amount is not None and amount.currency.code != currency:
            raise InvalidRequest(f"The refund must be in {currency}.", code="currency_mismatch", param="amount")
        if value <= 0:
            raise InvalidRequest("The refund must be more than zero.", code="amount_invalid", param="amount")
        if value > left:
            raise Unprocessable(
                f"Only {format_amount(left, currency)} {currency} is left to refund.",
                code="refund_exceeds_payment",
                param="amount",
            )
        refund = Refund.objects.create(payment=payment, amount=Money(value, currency), reason=reason[:255])
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") + value)
    return _refund_run(refund=refund)


def payment_chargeback_record(*, payment: Payment, amount: Money, reference: str) -> Refund | None:
    """Money the cardholder's bank took back (a chargeback): a refund the gateway already made,
    recorded as one (reason `chargeback`) so the payment, its credit note and the events say so.
    The same chargeback twice records it once; never more than is left on the payment."""
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        existing = Refund.objects.filter(payment=payment, gateway_reference=reference).first()
        if existing is not None:
            return existing
        currency = payment.amount.currency.code
        left = payment.amount.amount - payment.amount_refunded
        value = min(money(amount.amount, currency).amount, left) if amount.currency.code == currency else left
        if payment.status not in (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED) or value <= 0:
            logger.warning("Chargeback %s on %s: nothing left to take back", reference, payment.id)
            return None
        refund = Refund.objects.create(
            payment=payment, amount=Money(value, currency), reason="chargeback", gateway_reference=reference
        )
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") + value)
        return refund_apply_result(refund=refund, result=RefundResult(RefundStatus.SUCCEEDED, reference=reference))


def _refund_run(*, refund: Refund) -> Refund:
    """Send the refund to the gateway under its idempotency key (its id) and apply the answer."""
    payment = refund.payment
    try:
        result = gateway_for(payment.gateway_account).refund(
            reference=payment.gateway_reference, amount=refund.amount, idempotency_key=refund.id
        )
    except Exception as error:
        logger.warning("Refund %s ended without an answer: %s", refund.id, type(error).__name__)
        result = RefundResult(RefundStatus.UNKNOWN)
    return refund_apply_result(refund=refund, result=result)


@transaction.atomic
def refund_apply_result(*, refund: Refund, result: RefundResult) -> Refund:
    """What the gateway said about a refund (its answer, a lookup, a webhook): only the first final
    answer moves it; any answer teaches us its reference. Safe to apply twice."""
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if result.reference and not refund.gateway_reference:
        refund.gateway_reference = result.reference
        Refund.objects.filter(pk=refund.pk).update(gateway_reference=result.reference)
    if refund.status != Refund.Status.PENDING or result.status not in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
        return refund
    payment = payment_lock(refund.payment_id)
    if result.status == RefundStatus.FAILED:
        refund.status, refund.failure_message = Refund.Status.FAILED, result.message[:255]
        refund.save(update_fields=["status", "failure_message", "updated_at"])
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") - refund.amount.amount)
        return refund
    refund.status = Refund.Status.SUCCEEDED
    refund.save(update_fields=["status", "updated_at"])
    credit_note_issue(refund=refund)
    # Only confirmed refunds count: a pending one may still fail and give its amount back.
    fully = _refunded_total(payment) >= payment.amount.amount
    payment.status = Payment.Status.REFUNDED if fully else Payment.Status.PARTIALLY_REFUNDED
    payment.save(update_fields=["status", "updated_at"])
    event_emit(
        type="payment.refunded",
        payload={"payment": payment_repr(payment), "refund": refund_repr(refund)},
        customer_id=payment.customer_id,
    )
    hooks.run("payment_refunded", payment=payment, refund=refund, fully_refunded=fully)
    return refund


def _refunded_total(payment: Payment) -> Decimal:
    total = Refund.objects.filter(payment=payment, status=Refund.Status.SUCCEEDED).aggregate(total=Sum("amount"))
    return total["total"] or Decimal(0)


def refund_sync(*, refund: Refund, in_flight_for: timedelta = REFUND_IN_FLIGHT) -> Refund:
    """Ask the gateway about a pending refund, by its reference or (when the answer to its creation
    was lost) by its idempotency key, and settle it. Never refunds twice: a refund is sent again
    only when the gateway positively holds none and no request for it can still be in flight; one
    worker claims the resend, and it goes under the same idempotency key."""
    refund = Refund.objects.select_related("payment__gateway_account").get(pk=refund.pk)
    gateway = gateway_for(refund.payment.gateway_account)
    if refund.status != Refund.Status.PENDING or not gateway.supports_refund_lookup:
        return refund  # a gateway without lookups settles its refunds by webhook
    asked_at = timezone.now()
    try:
        result = gateway.refund_lookup(
            reference=refund.gateway_reference,
            payment_reference=refund.payment.gateway_reference,
            idempotency_key=refund.id,
        )
    except Exception as error:  # the next sweep asks again
        logger.warning("Lookup of refund %s failed: %s", refund.id, type(error).__name__)
        return refund
    if result.status != RefundStatus.NOT_FOUND:
        return refund_apply_result(refund=refund, result=result)
    # The claim is one conditional UPDATE: of two workers that both found nothing, one sends.
    claimed = Refund.objects.filter(
        pk=refund.pk,
        status=Refund.Status.PENDING,
        gateway_reference="",
        requested_at__lt=asked_at - in_flight_for,
    ).update(requested_at=timezone.now())
    if not claimed:
        return Refund.objects.get(pk=refund.pk)
    logger.info("Refund %s never reached the gateway: sending it again", refund.id)
    return _refund_run(refund=refund)


def refunds_reconcile(
    *, older_than: timedelta = timedelta(minutes=5), in_flight_for: timedelta = REFUND_IN_FLIGHT
) -> int:
    """The scheduled sweep over refunds left pending (a lost answer, a gateway still working on
    it): each is looked up and settled, never blindly sent again (see refund_sync). Safe to run
    twice, or on two workers at once."""
    pending = Refund.objects.filter(status=Refund.Status.PENDING, updated_at__lt=timezone.now() - older_than)
    count = 0
    for refund in pending.order_by("updated_at")[:500]:
        try:
            refund_sync(refund=refund, in_flight_for=in_flight_for)
        except Exception:  # one refund must not stop the sweep for the others
            logger.exception("Reconciling refund %s failed", refund.id)
            continue
        count += 1
    return count
