"""Races on one refund on PostgreSQL with real threads, against the Stripe double (which, unlike
Stripe, lets two requests under one idempotency key through at once): reconciliations, and a
reconciliation with Stripe's webhook; Stripe refunds once and the refund row ends consistent."""

from decimal import Decimal

import pytest

from integrations.models import Event
from integrations.tests.concurrency import run_at_once
from payments.models import Payment, Refund
from payments.services import payment_refund, refunds_reconcile
from tests.stripe_helpers import SDK_TRIES, paid, refund_creates, send_webhook, sent_long_ago, stripe_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 4


def test_reconciliations_racing_on_a_refund_stripe_never_received_send_it_once(
    customer_client, stripe_account, double, event_pass
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.fail_next.extend([TimeoutError()] * SDK_TRIES)
    refund = payment_refund(payment=payment)
    assert refund.status == Refund.Status.PENDING
    sent_long_ago(refund, hours=25)

    results = run_at_once(refunds_reconcile, [() for _ in range(THREADS)])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(double.refunds_of(payment.gateway_reference)) == 1
    assert len(refund_creates(double)) == SDK_TRIES + 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED and refund.gateway_reference.startswith("re_")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (Payment.Status.REFUNDED, Decimal("9.99"))
    assert Event.objects.filter(type="payment.refunded").count() == 1


def test_reconciliations_racing_stripes_webhooks_on_a_settled_pending_refund_settle_it_once(
    customer_client, stripe_account, double, event_pass
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.refund_status_next.append("pending")
    refund = payment_refund(payment=payment)
    settled = double.refund_settle(refund.gateway_reference, "succeeded")
    sent_long_ago(refund, hours=1)
    event = stripe_event("charge.refund.updated", settled, "evt_refund_race")
    jobs = [refunds_reconcile, refunds_reconcile, lambda: send_webhook(event, stripe_account).json()["outcome"]] * 2

    results = run_at_once(lambda job: job(), [(job,) for job in jobs])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r for r in results if isinstance(r, str)) == ["duplicate", "processed"]
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (Payment.Status.REFUNDED, Decimal("9.99"))
    assert Event.objects.filter(type="payment.refunded").count() == 1
    assert len(refund_creates(double)) == 1
    assert len(double.refunds_of(payment.gateway_reference)) == 1
