"""Refunds through Stripe (the double on loopback) that do not end with the first answer: an answer
lost on the way back, a key Stripe has pruned, a request that never arrived, refunds Stripe keeps
pending; reconciliation and webhooks settle each of them, and Stripe never refunds twice."""

from decimal import Decimal

import pytest
import stripe
from moneyed import Money

from integrations.models import Event
from payments.models import Payment, Refund
from payments.services import payment_refund, refunds_reconcile
from tests.stripe_helpers import SDK_TRIES, SECRET_KEY, paid, refund_creates, send_webhook, sent_long_ago, stripe_event

pytestmark = pytest.mark.django_db


def refunded_events() -> int:
    return Event.objects.filter(type="payment.refunded").count()


def test_a_refund_whose_answer_was_lost_is_found_by_its_metadata_and_not_sent_again(
    customer_client, stripe_account, double, event_pass
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.lose_answers["/v1/refunds"] = SDK_TRIES  # Stripe refunds on the first; no answer reaches us

    refund = payment_refund(payment=payment, amount=Money("4.00", "EUR"))

    assert (refund.status, refund.gateway_reference) == (Refund.Status.PENDING, "")
    at_stripe = double.refunds_of(payment.gateway_reference)
    assert len(at_stripe) == 1 and at_stripe[0]["metadata"] == {"refund_id": refund.id}
    assert len(refund_creates(double)) == SDK_TRIES
    sent_long_ago(refund, minutes=10)

    assert refunds_reconcile() == 1

    refund.refresh_from_db()
    assert (refund.status, refund.gateway_reference) == (Refund.Status.SUCCEEDED, at_stripe[0]["id"])
    assert len(refund_creates(double)) == SDK_TRIES  # looked up, not created again
    assert len(double.refunds_of(payment.gateway_reference)) == 1
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (Payment.Status.PARTIALLY_REFUNDED, Decimal("4.00"))
    assert refunded_events() == 1
    assert refunds_reconcile() == 0


def test_a_lost_refund_is_not_refunded_again_once_stripe_has_pruned_its_idempotency_key(
    customer_client, stripe_account, double, event_pass
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.lose_answers["/v1/refunds"] = SDK_TRIES
    refund = payment_refund(payment=payment, amount=Money("4.00", "EUR"))
    double.forget_idempotency_keys()  # a day later: the same key would make a new refund
    sent_long_ago(refund, hours=25)

    refunds_reconcile()
    refunds_reconcile()

    assert len(double.refunds_of(payment.gateway_reference)) == 1
    assert len(refund_creates(double)) == SDK_TRIES
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("4.00")


def test_a_refund_that_never_reached_stripe_is_sent_again_once_no_request_can_be_in_flight(
    customer_client, stripe_account, double, event_pass
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.fail_next.extend([TimeoutError()] * SDK_TRIES)  # the connection drops before Stripe reads it
    refund = payment_refund(payment=payment)
    assert refund.status == Refund.Status.PENDING
    assert double.refunds_of(payment.gateway_reference) == []
    sent_long_ago(refund, minutes=10)

    refunds_reconcile()  # Stripe has none, but the request might still be on its way: wait

    assert len(refund_creates(double)) == SDK_TRIES
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
    sent_long_ago(refund, minutes=40)

    refunds_reconcile()
    refunds_reconcile()

    creates = refund_creates(double)
    assert len(creates) == SDK_TRIES + 1
    assert creates[-1]["metadata[refund_id]"] == refund.id and creates[-1]["amount"] == "999"
    assert refund.id in double.idempotent  # the same idempotency key as the first time
    assert len(double.refunds_of(payment.gateway_reference)) == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED


def test_a_webhook_settles_a_refund_whose_answer_was_lost_by_the_metadata_it_carries(
    customer_client, stripe_account, double, event_pass
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.lose_answers["/v1/refunds"] = SDK_TRIES
    refund = payment_refund(payment=payment)
    at_stripe = double.refunds_of(payment.gateway_reference)[0]

    response = send_webhook(stripe_event("charge.refund.updated", at_stripe, "evt_lost_refund"), stripe_account)

    assert response.status_code == 200, response.content
    refund.refresh_from_db()
    assert (refund.status, refund.gateway_reference) == (Refund.Status.SUCCEEDED, at_stripe["id"])
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert len(refund_creates(double)) == SDK_TRIES


@pytest.mark.parametrize(
    ("outcome", "payment_status", "refunded"), [("succeeded", "refunded", "9.99"), ("failed", "succeeded", "0")]
)
def test_a_pending_refund_is_settled_by_stripes_webhook(
    customer_client, stripe_account, double, event_pass, outcome, payment_status, refunded
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.refund_status_next.append("pending")
    refund = payment_refund(payment=payment)
    assert refund.status == Refund.Status.PENDING and refund.gateway_reference.startswith("re_")
    created = send_webhook(
        stripe_event("refund.created", double.refund_object(refund.gateway_reference), "evt_re_1"), stripe_account
    )
    assert created.status_code == 200
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING  # still with the bank

    settled = double.refund_settle(refund.gateway_reference, outcome)
    response = send_webhook(stripe_event("charge.refund.updated", settled, "evt_re_2"), stripe_account)
    again = send_webhook(stripe_event("refund.updated", settled, "evt_re_3"), stripe_account)

    assert response.status_code == 200 and again.status_code == 200
    refund.refresh_from_db()
    assert refund.status == outcome
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (payment_status, Decimal(refunded))
    assert refunded_events() == (1 if outcome == "succeeded" else 0)
    assert len(refund_creates(double)) == 1


@pytest.mark.parametrize(
    ("outcome", "payment_status", "refunded"), [("succeeded", "refunded", "9.99"), ("failed", "succeeded", "0")]
)
def test_a_pending_refund_is_settled_by_reconciliation_without_sending_it_again(
    customer_client, stripe_account, double, event_pass, outcome, payment_status, refunded
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    double.refund_status_next.append("pending")
    refund = payment_refund(payment=payment)
    sent_long_ago(refund, hours=2)

    assert refunds_reconcile() == 1

    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
    double.refund_settle(refund.gateway_reference, outcome)
    sent_long_ago(refund, hours=2)

    assert refunds_reconcile() == 1

    refund.refresh_from_db()
    assert refund.status == outcome
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (payment_status, Decimal(refunded))
    assert len(refund_creates(double)) == 1
    assert len(double.refunds_of(payment.gateway_reference)) == 1
    assert refunds_reconcile() == 0


def test_a_refund_that_may_be_one_made_without_our_metadata_is_never_sent_again(
    customer_client, stripe_account, double, event_pass
):
    payment = paid(customer_client, stripe_account, double, event_pass)
    by_hand = stripe.StripeClient(SECRET_KEY, base_addresses={"api": double.url})
    by_hand.v1.refunds.create(params={"payment_intent": payment.gateway_reference, "amount": 100})  # the dashboard
    double.fail_next.extend([TimeoutError()] * SDK_TRIES)
    refund = payment_refund(payment=payment, amount=Money("4.00", "EUR"))
    sent_long_ago(refund, hours=2)

    refunds_reconcile()

    assert len(refund_creates(double)) == SDK_TRIES + 1  # the one by hand, and our lost tries
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING  # Stripe cannot tell us it has none: left to an operator
