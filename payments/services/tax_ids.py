"""Business customers' tax ids: read and normalised when an operator sets one (payments.tax.vat_ids),
verified with VIES by the worker after the change commits, and verified again once the last
confirmation is TAX_ID_RECHECK_DAYS old. Only a VIES "yes" makes an id `verified`; no answer
leaves it as it was (`unverified` is taxed as a consumer: a failed check never exempts)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django_q.tasks import async_task

from integrations.kernel import clock
from integrations.kernel.errors import InvalidRequest
from integrations.services import event_emit
from payments.models import Customer
from payments.representations import customer_repr
from payments.tax.vat_ids import EU_PREFIXES, TaxId, TaxIdInvalid, tax_id_parse
from payments.tax.vies import NO_ANSWER, VatCheck, vat_checker

logger = logging.getLogger("payments")

TaxIdStatus = Customer.TaxIdStatus
# A verified id whose re-check finds VIES silent stays verified this long past its due date, then
# falls back to unverified: an outage is no proof of anything, but neither is an old answer forever.
RECHECK_GRACE_DAYS = 30
RECHECK_BATCH = 1000
_VIES_CHECKABLE = Q(tax_id__regex=r"^(" + "|".join(sorted(EU_PREFIXES)) + r")")


def tax_id_read(*, raw: object, country: str) -> TaxId | None:
    """An operator's `tax_id` as stored: None for none (null or blank), else its normal form, or
    400 tax_id_invalid. A number without its prefix is read as one of the billing `country`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return tax_id_parse(raw, default_country=country)
    except TaxIdInvalid as error:
        raise InvalidRequest(str(error), code="tax_id_invalid", param="tax_id") from None


def customer_tax_id_apply(customer: Customer, tax_id: TaxId | None) -> bool:
    """Set the (already read) tax id on the unsaved customer; a new id starts unverified. True when
    it changed, and then the caller saves and, once committed, `tax_id_verify_later` checks it."""
    number = tax_id.number if tax_id else None
    if number == customer.tax_id:
        return False
    customer.tax_id = number
    customer.tax_id_country = tax_id.country if tax_id else ""
    customer.tax_id_status = TaxIdStatus.UNVERIFIED
    customer.tax_id_verified_at = None
    return True


def tax_id_verify_later(*, customer: Customer) -> None:
    """After commit, the worker asks VIES about the customer's id (where VIES knows its country)."""
    if customer.tax_id and customer.tax_id[:2] in EU_PREFIXES:
        customer_id = customer.id
        transaction.on_commit(
            lambda: async_task("payments.tasks.customer_tax_id_verify", customer_id, task_name=f"vat-{customer_id}")
        )


def _ask(number: str) -> VatCheck:
    try:
        return vat_checker().check(number[:2], number[2:])
    except Exception:  # a checker's own fault counts as no answer; the id stays as it is
        logger.exception("The VAT id checker failed")
        return NO_ANSWER


def customer_tax_id_verify(*, customer_id: str) -> Customer | None:
    """Ask VIES about the customer's tax id and record the answer. Safe to run twice; an id changed
    while VIES was answering is left alone (its own check follows). `customer.updated` carries a
    change of status. IDs VIES does not cover (GB, CH, NO, AU, NZ, CA) stay unverified."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None or customer.erased_at is not None or not customer.tax_id:
        return customer
    number = customer.tax_id
    if number[:2] not in EU_PREFIXES:
        return customer
    answer = _ask(number)  # outside any transaction: no row stays locked while VIES thinks
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer_id)
        if customer.tax_id != number or customer.erased_at is not None:
            return customer
        now = clock.now()
        if answer.valid is True:
            status, verified_at = TaxIdStatus.VERIFIED, now
        elif answer.valid is False:
            status, verified_at = TaxIdStatus.INVALID, None
        elif customer.tax_id_status == TaxIdStatus.VERIFIED and customer.tax_id_verified_at >= now - timedelta(
            days=settings.TAX_ID_RECHECK_DAYS + RECHECK_GRACE_DAYS
        ):
            return customer  # VIES silent: the recent confirmation stands until the grace runs out
        else:
            status, verified_at = TaxIdStatus.UNVERIFIED, None
        previous = customer.tax_id_status
        customer.tax_id_status, customer.tax_id_verified_at = status, verified_at
        customer.save(update_fields=["tax_id_status", "tax_id_verified_at", "updated_at"])
        if status != previous:
            event_emit(
                type="customer.updated",
                payload={
                    "customer": customer_repr(customer),
                    "changed": ["tax_id_status"],
                    "previous": {"tax_id_status": previous},
                },
                customer_id=customer.id,
            )
    return customer


def customer_tax_ids_recheck() -> int:
    """The scheduled sweep: ask VIES again about ids verified more than TAX_ID_RECHECK_DAYS ago, and
    about ids that never got an answer (VIES was down). One task per customer; answers how many."""
    due = clock.now() - timedelta(days=settings.TAX_ID_RECHECK_DAYS)
    ids = list(
        Customer.objects.filter(_VIES_CHECKABLE, tax_id__isnull=False, erased_at__isnull=True)
        .filter(
            Q(tax_id_status=TaxIdStatus.VERIFIED, tax_id_verified_at__lt=due) | Q(tax_id_status=TaxIdStatus.UNVERIFIED)
        )
        .order_by("tax_id_verified_at", "pk")
        .values_list("pk", flat=True)[:RECHECK_BATCH]
    )
    for customer_id in ids:
        async_task("payments.tasks.customer_tax_id_verify", customer_id, task_name=f"vat-{customer_id}")
    return len(ids)
