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

logger = logging.getLogger("payments")


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


def _refund_run(*, refund: Refund) -> Refund:
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
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != Refund.Status.PENDING or result.status in (RefundStatus.UNKNOWN, RefundStatus.PENDING):
        if result.reference and not refund.gateway_reference:
            Refund.objects.filter(pk=refund.pk).update(gateway_reference=result.reference)
        return refund
    payment = payment_lock(refund.payment_id)
    if result.status == RefundStatus.FAILED:
        refund.status, refund.failure_message = Refund.Status.FAILED, result.message[:255]
        refund.save(update_fields=["status", "failure_message", "updated_at"])
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") - refund.amount.amount)
        return refund
    refund.status, refund.gateway_reference = Refund.Status.SUCCEEDED, result.reference
    refund.save(update_fields=["status", "gateway_reference", "updated_at"])
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


def refunds_reconcile(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Ask again about refunds left pending (same idempotency key: never refunds twice)."""
    pending = Refund.objects.filter(status=Refund.Status.PENDING, updated_at__lt=timezone.now() - older_than)
    count = 0
    for refund in pending.select_related("payment__gateway_account")[:500]:
        _refund_run(refund=refund)
        count += 1
    return count
