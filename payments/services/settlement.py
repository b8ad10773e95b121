"""Settlement: the gateway's fees and the payouts that reach the operator's bank."""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.services import event_emit
from payments.currency import (
    money,
)
from payments.gateways.base import PayoutNotice
from payments.gateways.registry import gateway_for
from payments.gateways.sandbox.gateway import SETTLEMENT_DAYS, SandboxGateway
from payments.models import (
    GatewayAccount,
    Payment,
    Payout,
    Refund,
)
from payments.representations import payout_repr

logger = logging.getLogger("payments")


def _payout_paid_event(payout_id: str) -> None:
    event_emit(type="payout.paid", payload={"payout": payout_repr(Payout.objects.get(pk=payout_id))})


def payouts_create_sandbox(*, as_of=None) -> list[Payout]:
    """The sandbox's settlement: payments captured two days ago or more, net of their fees and of
    refunds since, are paid out per gateway account and currency. Safe to run twice."""
    now = as_of or timezone.now()
    cutoff = now - timedelta(days=SETTLEMENT_DAYS)
    payouts = []
    with transaction.atomic():
        due = Payment.objects.select_for_update(skip_locked=True).filter(
            gateway_account__provider=SandboxGateway.provider,
            payout__isnull=True,
            captured_at__lte=cutoff,
            status__in=(Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED, Payment.Status.REFUNDED),
        )
        groups: dict[tuple[str, str], list[Payment]] = {}
        for payment in due:
            groups.setdefault((payment.gateway_account_id, payment.amount.currency.code), []).append(payment)
        for (account_id, currency), payments in sorted(groups.items()):
            refunds = list(
                Refund.objects.select_for_update(skip_locked=True).filter(
                    Q(payment__in=payments) | Q(payment__payout__isnull=False),  # never ahead of its payment
                    payment__gateway_account_id=account_id,
                    amount_currency=currency,
                    status=Refund.Status.SUCCEEDED,
                    payout__isnull=True,
                    updated_at__lte=now,
                )
            )
            zero = Decimal(0)
            fees = sum((p.fee.amount for p in payments if p.fee is not None), zero)
            gross = sum((p.amount.amount for p in payments), zero)
            refunded = sum((r.amount.amount for r in refunds), zero)
            payout = Payout.objects.create(
                gateway_account_id=account_id,
                gateway_reference=f"sandbox-{currency}-{now:%Y%m%d%H%M%S}-{payments[0].id[-6:]}",
                amount=money(gross - fees - refunded, currency),
                fee_total=money(fees, currency),
                status=Payout.Status.PAID,
                arrival_date=now.date(),
            )
            Payment.objects.filter(pk__in=[p.pk for p in payments]).update(payout=payout)
            Refund.objects.filter(pk__in=[r.pk for r in refunds]).update(payout=payout)
            _payout_paid_event(payout.pk)
            payouts.append(payout)
    return payouts


def payment_fee_record(*, payment: Payment) -> Payment:
    """The gateway's fee and our net for a captured payment (Stripe: its balance transaction)."""
    gateway = gateway_for(payment.gateway_account)
    amounts = gateway.balance_for(reference=payment.gateway_reference) if gateway.supports_fees else None
    if amounts is not None:
        fee, net = amounts
        Payment.objects.filter(pk=payment.pk, fee__isnull=True).update(
            fee=fee.amount, fee_currency=fee.currency.code, net=net.amount, net_currency=net.currency.code
        )
        payment.refresh_from_db()
    return payment


def payout_record(*, account: GatewayAccount, payout: PayoutNotice) -> Payout | None:
    """A payout the gateway sent to the bank, with the payments settled in it."""
    gateway = gateway_for(account)
    record, created = Payout.objects.get_or_create(
        gateway_account=account,
        gateway_reference=payout.reference,
        defaults={
            "amount": payout.amount,
            "fee_total": money(0, payout.amount.currency.code),
            "status": Payout.Status.PAID,
            "arrival_date": payout.arrival_date,
        },
    )
    if not created or not gateway.supports_payouts:
        return record
    references = gateway.payout_payment_references(payout_reference=record.gateway_reference)
    payments = Payment.objects.filter(
        gateway_account=account, gateway_reference__in=list(references), payout__isnull=True
    )
    payments.update(payout=record)
    settled = [p if p.fee is not None else payment_fee_record(payment=p) for p in record.payments.all()]
    fees = sum((p.fee.amount for p in settled if p.fee is not None), Decimal(0))
    Payout.objects.filter(pk=record.pk).update(fee_total=fees)
    _payout_paid_event(record.pk)
    return record
