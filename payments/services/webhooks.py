"""Gateway notifications: verified before anything is stored, processed once, in one transaction."""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Q

from integrations.kernel.errors import NotFound
from payments.gateways.base import (
    WebhookNotice,
    WebhookRejected,
)
from payments.gateways.registry import gateway_for
from payments.models import (
    GatewayAccount,
    GatewayWebhookEvent,
    Payment,
    Refund,
)
from payments.services.charges import payment_apply_notice, payment_sync_by_reference
from payments.services.refunds import payment_chargeback_record, refund_apply_result
from payments.services.settlement import payment_fee_record, payout_record

logger = logging.getLogger("payments")


def gateway_webhook_receive(*, gateway_account_id: str, body: bytes, headers: dict) -> tuple[str, str]:
    """Take a gateway's notification. The signature is checked before anything is stored; the
    record of the event, dj-stripe's copy and our own changes commit together or not at all, so a
    failing handler leaves nothing behind and the gateway's retry is processed afresh, while a
    second delivery of a processed event is a no-op. Returns ("processed" or "duplicate", the body
    the gateway wants as the answer: "" for our JSON, "[accepted]" for Adyen)."""
    account = GatewayAccount.objects.filter(pk=gateway_account_id).first()
    if account is None:
        raise NotFound("No such gateway account.")
    gateway = gateway_for(account)
    notice = gateway.parse_webhook(body=body, headers=headers)  # raises WebhookRejected
    if not notice.event_id:
        raise WebhookRejected("The event has no id.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                GatewayWebhookEvent.objects.create(gateway_account=account, event_id=notice.event_id, type=notice.type)
        except IntegrityError:
            return "duplicate", gateway.webhook_answer
        gateway.webhook_record(notice)
        _webhook_apply(account=account, notice=notice)
    return "processed", gateway.webhook_answer


def _webhook_apply(*, account: GatewayAccount, notice: WebhookNotice) -> None:
    if notice.charge is not None:
        payment_apply_notice(gateway_account_id=account.id, idempotency_key=notice.charge_key, result=notice.charge)
    elif notice.chargeback is not None:
        payment_reference, chargeback_reference, amount = notice.chargeback
        payment = Payment.objects.filter(gateway_account=account, gateway_reference=payment_reference).first()
        if payment is not None:
            payment_chargeback_record(payment=payment, amount=amount, reference=chargeback_reference)
    elif notice.payment_reference:
        payment = payment_sync_by_reference(reference=notice.payment_reference, gateway_account_id=account.id)
        if payment is not None and payment.status == Payment.Status.SUCCEEDED and payment.fee is None:
            payment_fee_record(payment=payment)
    elif notice.refund is not None:
        refund = _refund_of(account=account, reference=notice.refund.reference, key=notice.refund_key)
        if refund is not None:
            refund_apply_result(refund=refund, result=notice.refund)
    elif notice.payout is not None:
        payout_record(account=account, payout=notice.payout)


def _refund_of(*, account: GatewayAccount, reference: str, key: str) -> Refund | None:
    """Our refund behind a gateway's: by its reference, or by the idempotency key the gateway kept
    with it (a refund whose creation answer was lost has no reference yet)."""
    refunds = Refund.objects.filter(payment__gateway_account=account)
    refund = refunds.filter(gateway_reference=reference).first() if reference else None
    if refund is None and key:
        refund = refunds.filter(Q(gateway_reference="") | Q(gateway_reference=reference), pk=key).first()
    return refund
