"""Data protection: everything held about one subscriber, as the API shows each part (GDPR
art. 15 and 20: access and portability; cards appear as brand, last four and expiry only), and
their erasure (art. 17)."""

from django.db import transaction

from coupons.models import Discount
from coupons.representations import discount_repr
from integrations.models import Event
from payments.models import Customer, Invoice, Payment, PaymentMethod, Refund
from payments.representations import (
    customer_repr,
    invoice_reprs,
    payment_method_repr,
    payment_repr,
    refund_repr,
)
from payments.services import customer_anonymise
from plans.models import LIVE_STATUSES, Access, OutgoingEmail, Subscription
from plans.representations import access_repr, subscription_repr
from plans.services.changes import subscription_cancel


def customer_export(*, customer: Customer) -> dict:
    payments = Payment.objects.filter(customer=customer).prefetch_related("attempt_log").order_by("created_at")
    discounts = Discount.objects.filter(customer=customer).select_related("redemption__code").order_by("created_at")
    events = Event.objects.filter(customer_id=customer.id).order_by("created_at", "id")
    return {
        "customer": customer_repr(customer),
        "payment_methods": [
            payment_method_repr(m) for m in PaymentMethod.objects.filter(customer=customer).order_by("created_at")
        ],
        "subscriptions": [
            subscription_repr(s)
            for s in Subscription.objects.filter(customer=customer)
            .select_related("plan", "price")
            .order_by("created_at")
        ],
        "accesses": [
            access_repr(a)
            for a in Access.objects.filter(customer=customer).select_related("plan").order_by("created_at")
        ],
        "invoices": invoice_reprs(list(Invoice.objects.filter(customer=customer).order_by("created_at"))),
        "payments": [payment_repr(p) for p in payments],
        "refunds": [refund_repr(r) for r in Refund.objects.filter(payment__customer=customer).order_by("created_at")],
        "discounts": [discount_repr(d) for d in discounts],
        "events": [
            {"id": e.id, "type": e.type, "created_at": e.created_at.isoformat(), "data": e.payload} for e in events
        ],
    }


@transaction.atomic
def customer_erase(*, customer: Customer) -> Customer:
    """Erase a subscriber's personal data: anonymised first (so nothing is mailed to them any
    more), then every live subscription canceled now; invoices, payments and refunds are kept
    with the anonymised customer, as accounting law requires. Erasing twice changes nothing."""
    customer = customer_anonymise(customer=customer)
    for subscription in Subscription.objects.filter(customer=customer, status__in=LIVE_STATUSES).order_by("pk"):
        subscription_cancel(subscription=subscription, at_period_end=False, reason=Subscription.CancelReason.ERASED)
    OutgoingEmail.objects.filter(customer=customer).delete()  # what was written to them, sent or not
    return customer
