"""Erasure of a customer's personal data, the payments' part (GDPR art. 17): the customer row is
anonymised and kept (invoices, payments and refunds keep pointing at it, as accounting law
requires), tokens revoked, cards detached here and then at their gateway, events scrubbed."""

import logging

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django_q.tasks import async_task

from integrations.kernel import clock
from integrations.kernel.audit import audit_record
from integrations.models import Event
from integrations.services import event_emit, event_payloads_scrub
from payments.gateways.registry import gateway_for
from payments.models import Customer, CustomerToken, GatewayCustomer, PaymentMethod
from payments.representations import customer_repr
from payments.selectors import gateway_customer_reference_known

logger = logging.getLogger("payments")


def customer_anonymise(*, customer: Customer) -> Customer:
    """Inside the caller's transaction, with the customer locked; a second call changes nothing
    (but asks the gateways again for whatever they did not confirm)."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.erased_at is None:
        personal = {
            customer.email: None,
            customer.external_id: None,
            customer.name: "",
            customer.tax_id: None,
            customer.business_name: "",
            customer.billing_address: None,
        }
        # An address is often changed (a move): the events hold the earlier ones too, in their customer payload.
        personal.update((address, None) for address in _past_billing_addresses(customer_id=customer.id))
        now = clock.now()
        customer.email, customer.external_id, customer.name, customer.erased_at = None, None, "", now
        customer.business_name, customer.tax_id, customer.tax_id_country = "", None, ""
        customer.billing_address = ""
        customer.tax_id_status, customer.tax_id_verified_at = Customer.TaxIdStatus.UNVERIFIED, None
        customer.save(
            update_fields=[
                "email",
                "external_id",
                "name",
                "erased_at",
                "business_name",
                "billing_address",
                "tax_id",
                "tax_id_country",
                "tax_id_status",
                "tax_id_verified_at",
                "updated_at",
            ]
        )
        CustomerToken.objects.filter(customer=customer).delete()
        PaymentMethod.objects.filter(customer=customer, detached_at__isnull=True).update(
            detached_at=now, is_default=False
        )
        event_payloads_scrub(customer_id=customer.id, replacements=personal)
        # The admin's own history names a row as it was then ("ext-1 <ann@example.com>").
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Customer), object_id=customer.pk).update(
            object_repr=str(customer)
        )
        event_emit(type="customer.erased", payload={"customer": customer_repr(customer)}, customer_id=customer.id)
        audit_record(action="customer.erased", object_type="customer", object_id=customer.id)
    gateway_cards_release_later(customer_id=customer.id)
    return customer


def _past_billing_addresses(*, customer_id: str) -> set[str]:
    shown = (
        Event.objects.filter(customer_id=customer_id, payload__customer__billing_address__isnull=False)
        .values_list("payload__customer__billing_address", flat=True)
        .distinct()
    )
    return {address for address in shown if isinstance(address, str) and address}


def gateway_cards_release_later(*, customer_id: str) -> None:
    """After commit, the worker hands the customer's removed cards back to their gateways."""
    transaction.on_commit(
        lambda: async_task("payments.tasks.gateway_cards_release", customer_id, task_name=f"release-{customer_id}")
    )


def gateway_cards_release(*, customer_id: str) -> bool:
    """Detach at the gateway every card the customer removed (or lost to erasure) and, once erased,
    delete their record at each gateway. Safe to run twice; True when every gateway confirmed
    (what one did not answer is asked again by `gateway_cards_release_pending`)."""
    done = True
    methods = PaymentMethod.objects.filter(
        customer_id=customer_id, detached_at__isnull=False, gateway_detached_at__isnull=True
    ).select_related("gateway_account")
    for method in methods:
        shopper = gateway_customer_reference_known(
            customer_id=customer_id, gateway_account_id=method.gateway_account_id
        )
        if gateway_for(method.gateway_account).detach(reference=method.gateway_reference, customer_reference=shopper):
            PaymentMethod.objects.filter(pk=method.pk).update(gateway_detached_at=clock.now())
        else:
            done = False
    if Customer.objects.filter(pk=customer_id, erased_at__isnull=False).exists():
        for record in GatewayCustomer.objects.filter(customer_id=customer_id).select_related("gateway_account"):
            if gateway_for(record.gateway_account).customer_forget(customer_reference=record.reference):
                record.delete()
            else:
                done = False
    return done


def gateway_cards_release_pending() -> int:
    """The scheduled sweep: customers with a removed card the gateway has not confirmed, or an
    erased customer still on record at a gateway. Answers how many were fully released."""
    waiting = (
        Customer.objects.filter(
            Q(payment_methods__detached_at__isnull=False, payment_methods__gateway_detached_at__isnull=True)
            | Q(erased_at__isnull=False, gateway_customers__isnull=False)
        )
        .values_list("pk", flat=True)
        .distinct()[:500]
    )
    released = 0
    for customer_id in list(waiting):
        try:
            released += gateway_cards_release(customer_id=customer_id)
        except Exception:  # one gateway's fault must not stop the others; the next sweep tries again
            logger.exception("Releasing the cards of %s failed", customer_id)
    return released
