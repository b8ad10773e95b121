"""Dunning: a failed renewal makes the subscription past due, with access for the grace period,
retries on the schedule, then cancels; the subscriber can pay on the hosted page, an operator
can retry now, and a new default card settles what is due."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from integrations.kernel import clock
from integrations.kernel.attempts import attempt_limit, attempt_reserve
from integrations.kernel.errors import InvalidRequest, NotFound, Unprocessable
from payments.models import Invoice, Payment, PaymentMethod
from payments.services import invoice_mark_uncollectible, invoice_next_attempt_plan, invoice_pay, payment_retry
from plans import notifications
from plans.locks import subscription_lock
from plans.models import Subscription, SubscriptionInvoice
from plans.selectors import subscription_card, subscription_open_invoice
from plans.services.mrr import subscription_mrr_sync
from plans.services.subscriptions import subscription_emit, subscription_end

Status = Subscription.Status
_RETRYABLE = (Payment.Status.FAILED, Payment.Status.CANCELED)


def renewal_failed(sub: Subscription, *, invoice: Invoice, decline_code: str, notify: bool = True) -> None:
    """A renewal charge failed (locked subscription): past due with access for the grace period,
    retries on the schedule, then canceled with the invoice given up. A failed try on the pay-now
    page counts as one of the retries (`notify` off: the customer saw the error on the page)."""
    schedule = settings.BILLING_RETRY_DAYS
    first_failure = sub.status != Status.PAST_DUE
    if first_failure:
        sub.status, sub.past_due_since, sub.retries_done = Status.PAST_DUE, clock.now(), 0
    else:
        sub.retries_done += 1
    if sub.retries_done >= len(schedule):
        invoice_mark_uncollectible(invoice=invoice)
        subscription_end(sub, reason=Subscription.CancelReason.PAYMENT_FAILED)
        return
    sub.next_billing_at = sub.past_due_since + timedelta(days=schedule[sub.retries_done])
    sub.save()
    subscription_mrr_sync(subscription=sub)  # past due still counts in MRR: nothing moves unless the price did
    invoice_next_attempt_plan(invoice=invoice, at=sub.next_billing_at)
    if first_failure:
        subscription_emit(sub, "past_due", invoice=invoice.id, decline_code=decline_code)
    if not notify:
        return
    if decline_code == "authentication_required":
        notifications.action_required(subscription=sub, invoice=invoice)
    else:
        notifications.payment_failed(subscription=sub, invoice=invoice)


def renewal_without_card(*, subscription_id: str, invoice: Invoice) -> None:
    with transaction.atomic():
        renewal_failed(subscription_lock(subscription_id), invoice=invoice, decline_code="no_payment_method")


def retry_due(sub: Subscription, *, as_of: datetime, lease: timedelta):
    """A past-due subscription's retry is due (inside the claim): (outcome, invoice, card)."""
    invoice = subscription_open_invoice(sub)
    if invoice is None:  # paid meanwhile (a new card, the pay-now page): nothing to retry
        sub.next_billing_at = sub.current_period_end
        sub.save(update_fields=["next_billing_at", "updated_at"])
        return "idle", None, None
    sub.next_billing_at = as_of + lease
    sub.save(update_fields=["next_billing_at", "updated_at"])
    return "retrying", invoice, subscription_card(sub)


def subscriptions_on_new_default_card(*, payment_method: PaymentMethod) -> None:
    """A new default card settles past-due renewals at once."""
    for sub in Subscription.objects.filter(customer_id=payment_method.customer_id, status=Status.PAST_DUE):
        invoice = subscription_open_invoice(sub)
        payment = invoice.payments.order_by("-created_at").first() if invoice else None
        if payment is not None and payment.status in _RETRYABLE:
            transaction.on_commit(
                lambda p=payment: payment_retry(payment=p, payment_method=payment_method, off_session=True)
            )


def _past_due_invoice(sub: Subscription, *, refusal: str, no_card: str) -> tuple[Invoice, PaymentMethod]:
    invoice = subscription_open_invoice(sub)
    if sub.status != Status.PAST_DUE or invoice is None:
        raise Unprocessable(refusal, code="nothing_due")
    card = subscription_card(sub)
    if card is None:
        raise InvalidRequest(no_card, code="parameter_missing", param="payment_method")
    return invoice, card


def subscription_pay_now(*, invoice_id: str, return_url: str, address: str) -> Payment:
    """The customer pays one past-due renewal invoice on-session (the pay-now link of a dunning
    email): may answer requires_action with the bank's page. Tries are limited per invoice, and a
    failed one counts as a retry of the schedule (`on_invoice_payment_failed`)."""
    link = SubscriptionInvoice.objects.filter(
        invoice_id=invoice_id, purpose=SubscriptionInvoice.Purpose.RENEWAL
    ).first()
    if link is None:
        raise NotFound("No such invoice.")
    sub = Subscription.objects.get(pk=link.subscription_id)
    invoice, card = _past_due_invoice(sub, refusal="Nothing is due on this subscription.", no_card="Add a card first.")
    if invoice.id != invoice_id:
        raise Unprocessable("Nothing is due on this invoice.", code="nothing_due")
    # Every try counts, succeeded or not: the link's holder cannot fire charges at will.
    attempt_reserve(
        [
            *attempt_limit("pay-now-address", address, settings.PAY_LINK_ADDRESS_RATE, setting="PAY_LINK_ADDRESS_RATE"),
            *attempt_limit("pay-now", invoice_id, settings.PAY_LINK_RATE, setting="PAY_LINK_RATE"),
        ],
        message="Too many tries: please try again later.",
    )
    payment = invoice.payments.order_by("-created_at").first()
    if payment is None:
        return invoice_pay(invoice=invoice, payment_method=card, off_session=False, return_url=return_url)
    if payment.status == Payment.Status.REQUIRES_ACTION:
        return payment
    return payment_retry(payment=payment, payment_method=card, off_session=False, return_url=return_url)


def subscription_retry_now(*, subscription: Subscription) -> Payment | None:
    """An operator retries a past-due renewal off-session now, on the card renewals are charged to.
    None when there is no failed payment to retry (one is under way or waits for the customer)."""
    sub = Subscription.objects.get(pk=subscription.pk)
    invoice, card = _past_due_invoice(
        sub, refusal="Only a past-due renewal can be retried.", no_card="The customer has no card to charge."
    )
    payment = invoice.payments.order_by("-created_at").first()
    if payment is None or payment.status not in _RETRYABLE:
        return None
    return payment_retry(payment=payment, payment_method=card, off_session=True)
