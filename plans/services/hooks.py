"""What plans does when payments tells it what happened to money it asked for: the handlers it
registers with `payments.hooks` (see plans.apps). Each runs inside payments' transaction."""

from datetime import timedelta

from django.utils import timezone

from coupons.services import redemptions_release
from integrations.kernel.errors import Unprocessable
from payments.models import Invoice, Payment, PaymentMethod
from payments.services import invoice_void
from plans.locks import subscription_lock
from plans.models import ACCESS_INVOICE_SOURCE, Access, Subscription, SubscriptionInvoice
from plans.services.dunning import renewal_failed
from plans.services.renewal import subscriptions_settle
from plans.services.subscriptions import subscription_end

Status = Subscription.Status
Purpose = SubscriptionInvoice.Purpose


def on_invoices_paid(*, paid: list[tuple[Invoice, Payment | None]]) -> None:
    """Settled invoices, one or a batch: the subscriptions they were for move on, the passes they
    bought start."""
    passes = [invoice.id for invoice, _ in paid if (invoice.source or "").startswith(ACCESS_INVOICE_SOURCE)]
    others = [invoice.id for invoice, _ in paid if not (invoice.source or "").startswith(ACCESS_INVOICE_SOURCE)]
    links = list(SubscriptionInvoice.objects.filter(invoice_id__in=others).select_related("price")) if others else []
    if links:
        subscriptions_settle(links=links)
    linked = {link.invoice_id for link in links}
    unlinked = passes + [invoice_id for invoice_id in others if invoice_id not in linked]
    if unlinked:
        _accesses_grant(invoice_ids=unlinked)


def _accesses_grant(*, invoice_ids: list[str]) -> None:
    now = timezone.now()
    for access in (
        Access.objects.select_for_update()
        .select_related("plan")
        .filter(invoice_id__in=invoice_ids, status=Access.Status.PENDING)
    ):
        access.status, access.access_from = Access.Status.ACTIVE, now
        access.access_until = now + timedelta(days=access.plan.access_days)
        access.save(update_fields=["status", "access_from", "access_until", "updated_at"])


def on_invoice_payment_failed(*, invoice: Invoice, payment: Payment) -> None:
    link = SubscriptionInvoice.objects.filter(invoice=invoice).first()
    if link is None:
        _access_fail(invoice=invoice)
        return
    sub = subscription_lock(link.subscription_id)
    if link.purpose == Purpose.FIRST:
        if sub.status == Status.INCOMPLETE:
            subscription_end(sub, status=Status.INCOMPLETE_EXPIRED, reason=Subscription.CancelReason.INCOMPLETE)
            invoice_void(invoice=invoice)
            redemptions_release(subscription_id=sub.id)  # a coupon is not used up by a signup that failed
        return
    if link.purpose == Purpose.UPGRADE:
        invoice_void(invoice=invoice)
        return
    if link.period_start != sub.current_period_end or sub.status not in (
        Status.ACTIVE,
        Status.TRIALING,
        Status.PAST_DUE,
    ):
        return
    # The customer's own try on the pay-now page counts as a retry; they see the error there.
    renewal_failed(sub, invoice=invoice, decline_code=payment.decline_code, notify=payment.off_session)


def _access_fail(*, invoice: Invoice) -> None:
    """A one-off purchase is not retried: its access fails and its invoice is voided (a new
    checkout makes a new one); a coupon it used is given back."""
    access = Access.objects.select_for_update().filter(invoice=invoice, status=Access.Status.PENDING).first()
    if access is None:
        return
    access.status = Access.Status.FAILED
    access.save(update_fields=["status", "updated_at"])
    invoice_void(invoice=invoice)
    if access.coupon_redemption_id:
        redemptions_release(redemption_id=access.coupon_redemption_id)


def on_payment_refunded(*, payment: Payment, refund, fully_refunded: bool) -> None:
    """A pass refunded in full ends at once."""
    if not fully_refunded:
        return
    now = timezone.now()
    Access.objects.filter(invoice_id=payment.invoice_id, status=Access.Status.ACTIVE).update(
        status=Access.Status.REFUNDED, access_until=now, updated_at=now
    )


def on_payment_method_detach(*, payment_method: PaymentMethod) -> None:
    """A card may not be removed while it is the only one behind a live subscription."""
    others = PaymentMethod.objects.filter(customer_id=payment_method.customer_id, detached_at__isnull=True).exclude(
        pk=payment_method.pk
    )
    if others.exists():
        return
    subs = Subscription.objects.filter(customer_id=payment_method.customer_id)
    if (
        subs.filter(status__in=(Status.ACTIVE, Status.PAST_DUE, Status.INCOMPLETE)).exists()
        or subs.filter(status=Status.TRIALING, plan__trial_requires_payment_method=True).exists()
    ):
        raise Unprocessable(
            "This is the only card behind an active subscription: add another card first, or cancel the subscription.",
            code="payment_method_in_use",
        )
