"""Customers and their bearer tokens."""

import logging
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.kernel.errors import Conflict, InvalidRequest
from integrations.kernel.hashing import new_secret, secret_hash
from integrations.services import event_emit
from payments.currency import (
    country_currency,
    normalize_country,
)
from payments.documents.formatting import locale_tag_read
from payments.models import (
    Customer,
    CustomerToken,
)
from payments.representations import (
    customer_repr,
)
from payments.services.tax_ids import customer_tax_id_apply, tax_id_read, tax_id_verify_later
from payments.tax.subdivisions import customer_subdivision_read

logger = logging.getLogger("payments")


CUSTOMER_TOKEN_PREFIX = "mmc_"


def _check_external_id(external_id: str) -> str:
    external_id = (external_id or "").strip()
    if not external_id:
        raise InvalidRequest("external_id is required.", code="parameter_missing", param="external_id")
    return external_id


BILLING_ADDRESS_MAX_LENGTH = 500
BILLING_ADDRESS_MAX_LINES = 5
# Control, format (bidi overrides, zero-width), private-use, unassigned and line/paragraph separators:
# nothing a printed address holds. Line breaks are read first (\r\n, \r and \n all end a line).
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def billing_address_read(*, raw: object, param: str = "billing_address") -> str:
    """A customer's postal address from input: up to 5 lines (street, postal code and city...) of
    printable text, 500 characters in all, each line trimmed and blank lines dropped; None or "" is
    none. Anything else is a 400 parameter_invalid naming `param`."""
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str):
        raise InvalidRequest("billing_address is text.", code="parameter_invalid", param=param)
    rows = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if any(unicodedata.category(char) in _UNPRINTABLE for row in rows for char in row):
        raise InvalidRequest(
            "billing_address may hold printable characters and line breaks only (no tabs or control characters).",
            code="parameter_invalid",
            param=param,
        )
    lines = [row.strip() for row in rows if row.strip()]
    if len(lines) > BILLING_ADDRESS_MAX_LINES:
        raise InvalidRequest(
            f"billing_address has at most {BILLING_ADDRESS_MAX_LINES} lines.", code="parameter_invalid", param=param
        )
    address = "\n".join(lines)
    if len(address) > BILLING_ADDRESS_MAX_LENGTH:
        raise InvalidRequest(
            f"billing_address has at most {BILLING_ADDRESS_MAX_LENGTH} characters.",
            code="parameter_invalid",
            param=param,
        )
    return address


def _check_not_erased(customer: Customer) -> None:
    if customer.erased_at is not None:
        raise Conflict(
            "This customer was erased; a new customer can be created with the same external_id.",
            code="customer_erased",
        )


@transaction.atomic
def customer_create(
    *,
    external_id: str,
    email: str,
    country: str,
    name: str = "",
    business_name: str = "",
    tax_id: str | None = None,
    subdivision: str | None = None,
    preferred_locale: str | None = None,
    billing_address: str | None = None,
) -> Customer:
    """A new customer; a business gives its `tax_id` (checked here, verified with VIES after commit).
    A US or Canadian customer may give their state or province (`subdivision`, "QC" or "CA-QC").
    `preferred_locale`: the language of their invoices and credit notes ("de", "de-AT"; none: English);
    `billing_address`: the postal address they print (billing_address_read)."""
    external_id = _check_external_id(external_id)
    preferred_locale = locale_tag_read(raw=preferred_locale)
    billing_address = billing_address_read(raw=billing_address)
    country = normalize_country(country)
    subdivision = customer_subdivision_read(raw=subdivision, country=country)
    read_tax_id = tax_id_read(raw=tax_id, country=country)
    if Customer.objects.filter(external_id=external_id).exists():
        raise Conflict(
            f"A customer with external_id '{external_id}' exists.", code="customer_exists", param="external_id"
        )
    customer = Customer(
        external_id=external_id,
        email=email,
        country=country,
        subdivision=subdivision,
        name=name,
        business_name=(business_name or "").strip(),
        currency=country_currency(country),
        preferred_locale=preferred_locale,
        billing_address=billing_address,
    )
    customer_tax_id_apply(customer, read_tax_id)
    try:
        with transaction.atomic():
            customer.save(force_insert=True)
    except IntegrityError:  # a concurrent create won the race; the unique constraint has the last word
        raise Conflict(
            f"A customer with external_id '{external_id}' exists.", code="customer_exists", param="external_id"
        ) from None
    event_emit(type="customer.created", payload={"customer": customer_repr(customer)}, customer_id=customer.id)
    tax_id_verify_later(customer=customer)
    return customer


_EDITABLE = (
    "external_id",
    "email",
    "name",
    "country",
    "subdivision",
    "business_name",
    "tax_id",
    "preferred_locale",
    "billing_address",
)


@transaction.atomic
def customer_update(*, customer: Customer, **changes) -> Customer:
    """Change any of external_id, email, name, country, subdivision, business_name, tax_id,
    preferred_locale, billing_address (documents issued before keep their language and address); the
    currency follows the country until a payment fixes it. A new tax_id starts unverified (null or
    "" removes it). A new country clears the subdivision unless the change gives one of the new
    country's: a state or province of the old country says nothing of where the customer is now."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise InvalidRequest(f"Cannot change {', '.join(sorted(unknown))}.", code="parameter_invalid")
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    _check_not_erased(customer)
    if "external_id" in changes:
        changes["external_id"] = _check_external_id(changes["external_id"])
        if Customer.objects.filter(external_id=changes["external_id"]).exclude(pk=customer.pk).exists():
            raise Conflict("Another customer has this external_id.", code="customer_exists", param="external_id")
    if "country" in changes:
        changes["country"] = normalize_country(changes["country"])
    country = changes.get("country", customer.country)
    if "subdivision" in changes:
        changes["subdivision"] = customer_subdivision_read(raw=changes["subdivision"], country=country)
    elif country != customer.country:
        changes["subdivision"] = ""
    if "business_name" in changes:
        changes["business_name"] = (changes["business_name"] or "").strip()
    if "preferred_locale" in changes:
        changes["preferred_locale"] = locale_tag_read(raw=changes["preferred_locale"])
    if "billing_address" in changes:
        changes["billing_address"] = billing_address_read(raw=changes["billing_address"])
    status_before, tax_id_changed = customer.tax_id_status, False
    if "tax_id" in changes:
        tax_id = tax_id_read(raw=changes.pop("tax_id"), country=changes.get("country", customer.country))
        tax_id_changed = customer_tax_id_apply(customer, tax_id)
    changed = {field: value for field, value in changes.items() if getattr(customer, field) != value}
    if tax_id_changed:
        changed["tax_id"] = customer.tax_id
        if customer.tax_id_status != status_before:
            changed["tax_id_status"] = customer.tax_id_status
    if not changed:
        return customer
    for field, value in changed.items():
        setattr(customer, field, value)
    if "country" in changed and customer.currency_fixed_at is None:
        customer.currency = country_currency(customer.country)
    customer.save()
    if tax_id_changed:
        tax_id_verify_later(customer=customer)
    event_emit(
        type="customer.updated",
        payload={"customer": customer_repr(customer), "changed": sorted(changed)},
        customer_id=customer.id,
    )
    return customer


def customer_token_create(*, customer: Customer, ttl_seconds: int | None = None) -> tuple[str, CustomerToken]:
    """A new bearer token for the customer; the raw token is returned once and never stored."""
    _check_not_erased(customer)
    ttl = settings.CUSTOMER_TOKEN_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    if not 60 <= ttl <= 30 * 86400:
        raise InvalidRequest(
            "ttl_seconds must be between 60 and 2592000.", code="parameter_invalid", param="ttl_seconds"
        )
    raw = new_secret(CUSTOMER_TOKEN_PREFIX)
    token = CustomerToken.objects.create(
        customer=customer, token_hash=secret_hash(raw), expires_at=timezone.now() + timedelta(seconds=ttl)
    )
    return raw, token


def customer_tokens_revoke(*, customer: Customer) -> int:
    """Every token of the customer stops working now (they are only ever stored hashed)."""
    deleted, _ = CustomerToken.objects.filter(customer=customer).delete()
    return deleted


def customer_tokens_purge() -> int:
    """Delete tokens that expired more than a day ago."""
    deleted, _ = CustomerToken.objects.filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    return deleted
