"""Writes for customers, gateway accounts, cards, invoices, payments, refunds and payouts."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from moneyed import Money

from integrations.kernel.db import update_rows
from integrations.kernel.errors import CardError, Conflict, InvalidRequest, NotFound, Unprocessable
from integrations.kernel.hashing import new_secret, secret_hash
from integrations.models import Event
from integrations.services import event_emit
from integrations.services import frozen_payload as _frozen
from payments import hooks
from payments.currency import (
    country_currency,
    format_amount,
    from_minor_units,
    money,
    normalize_country,
    normalize_currency,
)
from payments.gateways.base import (
    CardDeclined,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    RefundResult,
    RefundStatus,
    WebhookRejected,
)
from payments.gateways.registry import GATEWAYS, gateway_for
from payments.models import (
    Customer,
    CustomerToken,
    GatewayAccount,
    GatewayCustomer,
    GatewayWebhookEvent,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    Payout,
    Refund,
    payment_idempotency_key,
)

logger = logging.getLogger("payments")

CUSTOMER_TOKEN_PREFIX = "mmc_"


def customer_payload(customer: Customer) -> dict:
    return {
        "id": customer.id,
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "country": customer.country,
        "currency": customer.currency,
    }


def _check_external_id(external_id: str) -> str:
    external_id = (external_id or "").strip()
    if not external_id:
        raise InvalidRequest("external_id is required.", code="parameter_missing", param="external_id")
    return external_id


@transaction.atomic
def customer_create(*, external_id: str, email: str, country: str, name: str = "") -> Customer:
    external_id = _check_external_id(external_id)
    country = normalize_country(country)
    if Customer.objects.filter(external_id=external_id).exists():
        raise Conflict(
            f"A customer with external_id '{external_id}' exists.", code="customer_exists", param="external_id"
        )
    try:
        with transaction.atomic():
            customer = Customer.objects.create(
                external_id=external_id, email=email, country=country, name=name, currency=country_currency(country)
            )
    except IntegrityError:  # a concurrent create won the race; the unique constraint has the last word
        raise Conflict(
            f"A customer with external_id '{external_id}' exists.", code="customer_exists", param="external_id"
        ) from None
    event_emit(type="customer.created", payload={"customer": customer_payload(customer)}, customer_id=customer.id)
    return customer


_EDITABLE = ("external_id", "email", "name", "country")


@transaction.atomic
def customer_update(*, customer: Customer, **changes) -> Customer:
    """Change any of external_id, email, name, country; the currency follows the country until a
    payment fixes it."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise InvalidRequest(f"Cannot change {', '.join(sorted(unknown))}.", code="parameter_invalid")
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if "external_id" in changes:
        changes["external_id"] = _check_external_id(changes["external_id"])
        if Customer.objects.filter(external_id=changes["external_id"]).exclude(pk=customer.pk).exists():
            raise Conflict("Another customer has this external_id.", code="customer_exists", param="external_id")
    if "country" in changes:
        changes["country"] = normalize_country(changes["country"])
    changed = {field: value for field, value in changes.items() if getattr(customer, field) != value}
    if not changed:
        return customer
    for field, value in changed.items():
        setattr(customer, field, value)
    if "country" in changed and customer.currency_fixed_at is None:
        customer.currency = country_currency(customer.country)
    customer.save()
    event_emit(
        type="customer.updated",
        payload={"customer": customer_payload(customer), "changed": sorted(changed)},
        customer_id=customer.id,
    )
    return customer


def customer_token_create(*, customer: Customer, ttl_seconds: int | None = None) -> tuple[str, CustomerToken]:
    """A new bearer token for the customer; the raw token is returned once and never stored."""
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


def customer_tokens_purge() -> int:
    """Delete tokens that expired more than a day ago."""
    deleted, _ = CustomerToken.objects.filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    return deleted


# --- Gateway accounts ---------------------------------------------------------------------------


def _codes(values, *, normalize, param: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    result = []
    for value in values:
        try:
            code = normalize(value)
        except InvalidRequest as error:
            error.param = param
            raise
        if code not in result:
            result.append(code)
    return result


def gateway_account_payload(account: GatewayAccount) -> dict:
    return {
        "id": account.id,
        "provider": account.provider,
        "display_name": account.display_name,
        "countries": account.countries,
        "currencies": account.currencies,
        "priority": account.priority,
        "active": account.active,
    }


@transaction.atomic
def gateway_account_create(
    *,
    provider: str,
    display_name: str,
    credentials: dict | None = None,
    countries=(),
    currencies=(),
    priority: int = 100,
    active: bool = True,
) -> GatewayAccount:
    if provider not in GATEWAYS:
        raise InvalidRequest(f"Unknown provider '{provider}'.", code="parameter_invalid", param="provider")
    account = GatewayAccount.objects.create(
        provider=provider,
        display_name=display_name.strip() or provider,
        credentials={**GATEWAYS[provider].default_credentials(), **(credentials or {})},
        countries=_codes(countries, normalize=normalize_country, param="countries"),
        currencies=_codes(currencies, normalize=normalize_currency, param="currencies"),
        priority=priority,
        active=active,
    )
    event_emit(type="gateway_account.created", payload={"gateway_account": gateway_account_payload(account)})
    return account


@transaction.atomic
def gateway_account_update(*, account: GatewayAccount, credentials: dict | None = None, **changes) -> GatewayAccount:
    """Edit an account. Credentials are write-only: a blank value keeps the stored one."""
    account = GatewayAccount.objects.select_for_update().get(pk=account.pk)
    if "countries" in changes:
        changes["countries"] = _codes(changes["countries"], normalize=normalize_country, param="countries")
    if "currencies" in changes:
        changes["currencies"] = _codes(changes["currencies"], normalize=normalize_currency, param="currencies")
    for field, value in changes.items():
        if field not in ("display_name", "countries", "currencies", "priority", "active"):
            raise InvalidRequest(f"Cannot change {field}.", code="parameter_invalid", param=field)
        setattr(account, field, value)
    if credentials:
        account.credentials = {**account.credentials, **{k: v for k, v in credentials.items() if v not in (None, "")}}
    account.save()
    event_emit(type="gateway_account.updated", payload={"gateway_account": gateway_account_payload(account)})
    return account


# --- Payment methods ----------------------------------------------------------------------------


def payment_method_payload(method: PaymentMethod) -> dict:
    return {
        "id": method.id,
        "customer": method.customer_id,
        "gateway": method.gateway_account_id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "is_default": method.is_default,
    }


def gateway_customer_reference(*, customer: Customer, account: GatewayAccount) -> str:
    """The customer's id at the gateway, created there once and remembered."""
    existing = GatewayCustomer.objects.filter(customer=customer, gateway_account=account).first()
    if existing:
        return existing.reference
    reference = gateway_for(account).customer_reference(customer=customer)
    if not reference:
        return ""
    row, _ = GatewayCustomer.objects.get_or_create(
        customer=customer, gateway_account=account, defaults={"reference": reference}
    )
    return row.reference


def payment_method_attach(*, customer: Customer, gateway_account_id: str, token: str) -> PaymentMethod:
    """Keep a card the app tokenized with a gateway: brand, last four, expiry and fingerprint only."""
    account = GatewayAccount.objects.filter(pk=gateway_account_id, active=True).first()
    if account is None:
        raise InvalidRequest("No such gateway.", code="resource_missing", param="gateway")
    if not isinstance(token, str) or not token.strip():
        raise InvalidRequest("token is required.", code="parameter_missing", param="token")
    try:
        attached = gateway_for(account).attach(
            token=token.strip(), customer_reference=gateway_customer_reference(customer=customer, account=account)
        )
    except CardDeclined as error:
        raise CardError(str(error), code=error.code) from None
    except GatewayError as error:
        raise InvalidRequest(str(error), code=error.code, param="token") from None

    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)  # serializes default-card changes
        existing = PaymentMethod.objects.filter(gateway_account=account, gateway_reference=attached.reference).first()
        if existing is not None:
            if existing.customer_id != customer.id:
                raise Conflict(
                    "This card token belongs to another customer.", code="payment_method_exists", param="token"
                )
            return existing
        has_default = PaymentMethod.objects.filter(
            customer=customer, is_default=True, detached_at__isnull=True
        ).exists()
        card = attached.card
        method = PaymentMethod.objects.create(
            customer=customer,
            gateway_account=account,
            gateway_reference=attached.reference,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            fingerprint=card.fingerprint,
            is_default=not has_default,
        )
        event_emit(
            type="payment_method.attached",
            payload={"payment_method": payment_method_payload(method)},
            customer_id=customer.id,
        )
        if method.is_default:
            hooks.run("payment_method_default_changed", payment_method=method)
    return method


def payment_method_setup(*, payment_method: PaymentMethod, purpose: str, return_url: str = "") -> ChargeResult:
    """Authenticate a card for later off-session charges without charging it (a trial behind a
    card). One idempotency key per card and purpose, so asking again returns the same answer."""
    account = payment_method.gateway_account
    try:
        return gateway_for(account).setup(
            payment_method_reference=payment_method.gateway_reference,
            idempotency_key=f"setup-{payment_method.id}-{purpose}",
            customer_reference=gateway_customer_reference(customer=payment_method.customer, account=account),
            return_url=return_url,
        )
    except Exception as error:  # no answer: the trial goes on; its first charge asks again if need be
        logger.warning("Card setup for %s ended without an answer: %s", payment_method.id, type(error).__name__)
        return ChargeResult(ChargeStatus.UNKNOWN)


@transaction.atomic
def payment_method_set_default(*, payment_method: PaymentMethod) -> PaymentMethod:
    Customer.objects.select_for_update().get(pk=payment_method.customer_id)
    method = PaymentMethod.objects.get(pk=payment_method.pk)
    if method.detached_at is not None:
        raise NotFound("No such payment method.")
    PaymentMethod.objects.filter(customer_id=method.customer_id, is_default=True).exclude(pk=method.pk).update(
        is_default=False
    )
    if not method.is_default:
        method.is_default = True
        method.save(update_fields=["is_default"])
        event_emit(
            type="payment_method.default_changed",
            payload={"payment_method": payment_method_payload(method)},
            customer_id=method.customer_id,
        )
        hooks.run("payment_method_default_changed", payment_method=method)
    return method


@transaction.atomic
def payment_method_detach(*, payment_method: PaymentMethod) -> None:
    """Remove a card. Refused while it is the only card behind an active subscription; a removed
    default card hands the default to the newest remaining card."""
    Customer.objects.select_for_update().get(pk=payment_method.customer_id)
    method = PaymentMethod.objects.get(pk=payment_method.pk)
    if method.detached_at is not None:
        return
    hooks.run("payment_method_detach_check", payment_method=method)
    method.detached_at = timezone.now()
    was_default, method.is_default = method.is_default, False
    method.save(update_fields=["detached_at", "is_default"])
    if was_default:
        successor = PaymentMethod.objects.filter(customer_id=method.customer_id, detached_at__isnull=True).first()
        if successor:
            PaymentMethod.objects.filter(pk=successor.pk).update(is_default=True)
    event_emit(
        type="payment_method.detached",
        payload={"payment_method": payment_method_payload(method)},
        customer_id=method.customer_id,
    )


# --- Invoices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSpec:
    description: str
    unit_amount: Money
    quantity: int = 1
    discount: Money | None = None
    tax: Money | None = None
    reference: str = ""


def invoice_payload(invoice: Invoice) -> dict:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "customer": invoice.customer_id,
        "status": invoice.status,
        "total": {"amount": format_amount(invoice.total.amount, invoice.currency), "currency": invoice.currency},
        "source": invoice.source,
    }


@transaction.atomic
def invoice_create(
    *, customer: Customer, currency: str, lines: list[LineSpec], source: str | None = None, description: str = ""
) -> Invoice:
    """A draft invoice whose lines add up exactly. With a `source`, a second call returns the first
    invoice (a rerun of the same billing finds its invoice instead of making another)."""
    if source:
        existing = Invoice.objects.filter(source=source).first()
        if existing is not None:
            return existing
    if not lines:
        raise InvalidRequest("An invoice needs at least one line.", code="parameter_missing", param="lines")
    zero = money(0, currency)
    rows, subtotal, discounts, taxes = [], zero, zero, zero
    for position, spec in enumerate(lines, start=1):
        unit = money(spec.unit_amount.amount, currency)
        discount = money((spec.discount or zero).amount, currency)
        tax = money((spec.tax or zero).amount, currency)
        gross = unit * spec.quantity
        if spec.quantity < 1 or unit.amount < 0 or discount.amount < 0 or discount > gross or tax.amount < 0:
            raise InvalidRequest(f"Line {position} does not add up.", code="parameter_invalid", param="lines")
        rows.append(
            InvoiceLine(
                position=position,
                description=spec.description[:255],
                quantity=spec.quantity,
                unit_amount=unit,
                discount_amount=discount,
                tax_amount=tax,
                total=gross - discount + tax,
                reference=spec.reference,
            )
        )
        subtotal, discounts, taxes = subtotal + gross, discounts + discount, taxes + tax
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                customer=customer,
                currency=currency,
                subtotal=subtotal,
                discount_total=discounts,
                tax_total=taxes,
                total=subtotal - discounts + taxes,
                source=source or None,
                description=description[:255],
            )
    except IntegrityError:  # the same source raced in
        return Invoice.objects.get(source=source)
    for row in rows:
        row.invoice = invoice
    InvoiceLine.objects.bulk_create(rows)
    event_emit(type="invoice.created", payload={"invoice": invoice_payload(invoice)}, customer_id=customer.id)
    return invoice


def invoice_numbers_reserve(*, year: int, count: int = 1) -> list[str]:
    """The next `count` invoice numbers of the year, gap-free: one upsert whose row lock lasts
    until the caller's transaction ends, so a rollback gives the numbers back."""
    table = InvoiceNumberSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last_number) VALUES (%s, %s) "  # noqa: S608 - table name from our model
            f"ON CONFLICT (year) DO UPDATE SET last_number = {table}.last_number + EXCLUDED.last_number "
            "RETURNING last_number",
            [year, count],
        )
        last = cursor.fetchone()[0]
    return [f"INV-{year}-{number:06d}" for number in range(last - count + 1, last + 1)]


def _next_invoice_number(year: int) -> str:
    return invoice_numbers_reserve(year=year)[0]


@transaction.atomic
def invoice_finalize(*, invoice: Invoice) -> Invoice:
    """Number the invoice and open it for payment; a zero total is paid at once with no charge."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != Invoice.Status.DRAFT:
        return invoice
    now = timezone.now()
    invoice.number = _next_invoice_number(now.year)
    invoice.status = Invoice.Status.OPEN
    invoice.finalized_at = now
    invoice.save(update_fields=["number", "status", "finalized_at"])
    if invoice.total.amount == 0:
        return invoice_mark_paid(invoice=invoice, payment=None)
    return invoice


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, payment: "Payment | None") -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == Invoice.Status.PAID:
        return invoice
    if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        raise Unprocessable(f"A {invoice.status} invoice cannot be paid.", code="invoice_not_payable")
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = timezone.now()
    invoice.save(update_fields=["status", "paid_at"])
    event_emit(type="invoice.paid", payload={"invoice": invoice_payload(invoice)}, customer_id=invoice.customer_id)
    hooks.run("invoice_paid", invoice=invoice, payment=payment)
    return invoice


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice) -> Invoice:
    """Give up collecting an open invoice (dunning exhausted); it can still be paid later."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == Invoice.Status.OPEN:
        invoice.status = Invoice.Status.UNCOLLECTIBLE
        invoice.save(update_fields=["status"])
        event_emit(
            type="invoice.marked_uncollectible",
            payload={"invoice": invoice_payload(invoice)},
            customer_id=invoice.customer_id,
        )
    return invoice


@transaction.atomic
def invoice_void(*, invoice: Invoice) -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == Invoice.Status.PAID:
        raise Unprocessable("A paid invoice cannot be voided; refund its payment.", code="invoice_paid")
    if invoice.status != Invoice.Status.VOID:
        invoice.status, invoice.voided_at = Invoice.Status.VOID, timezone.now()
        invoice.save(update_fields=["status", "voided_at"])
        event_emit(
            type="invoice.voided", payload={"invoice": invoice_payload(invoice)}, customer_id=invoice.customer_id
        )
    return invoice


# --- Payments -----------------------------------------------------------------------------------

OPEN_PAYMENT_STATUSES = (Payment.Status.PROCESSING, Payment.Status.REQUIRES_ACTION)


def payment_payload(payment: Payment) -> dict:
    return {
        "id": payment.id,
        "customer": payment.customer_id,
        "invoice": payment.invoice_id,
        "gateway": payment.gateway_account_id,
        "status": payment.status,
        "amount": {
            "amount": format_amount(payment.amount.amount, payment.amount.currency.code),
            "currency": payment.amount.currency.code,
        },
        "decline_code": payment.decline_code or None,
        "off_session": payment.off_session,
    }


def _lock_payment(payment_id: str) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("invoice").get(pk=payment_id)


def invoice_pay(
    *, invoice: Invoice, payment_method: PaymentMethod, off_session: bool = False, return_url: str = ""
) -> Payment:
    """Charge an open invoice to a card. The payment row and its idempotency key are committed
    before the gateway is called, so a crash leaves a `processing` payment to reconcile, never a
    charge we do not know about; an invoice with a payment under way is not charged again."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.OPEN:
            raise Unprocessable(f"A {invoice.status} invoice cannot be charged.", code="invoice_not_payable")
        under_way = invoice.payments.filter(status__in=OPEN_PAYMENT_STATUSES).first()
        if under_way is not None:
            return under_way
        if payment_method.detached_at is not None or payment_method.customer_id != invoice.customer_id:
            raise InvalidRequest("No such payment method.", code="resource_missing", param="payment_method")
        payment = Payment.objects.create(
            customer_id=invoice.customer_id,
            invoice=invoice,
            gateway_account_id=payment_method.gateway_account_id,
            payment_method=payment_method,
            amount=invoice.total,
            off_session=off_session,
            return_url=return_url,
            attempts=1,
        )
        PaymentAttempt.objects.create(payment=payment, number=1, idempotency_key=payment.current_idempotency_key)
    return _payment_attempt_run(payment=payment)


def payment_retry(
    *, payment: Payment, off_session: bool = True, payment_method: PaymentMethod | None = None, return_url: str = ""
) -> Payment:
    """Charge a failed payment's invoice again, as a new attempt with a new idempotency key,
    optionally with another card (same gateway) or on-session with a return URL."""
    with transaction.atomic():
        payment = _lock_payment(payment.pk)
        if payment.status not in (Payment.Status.FAILED, Payment.Status.CANCELED):
            return payment
        if payment.invoice.status != Invoice.Status.OPEN:
            return payment
        if payment_method is not None:
            if payment_method.customer_id != payment.customer_id or payment_method.detached_at is not None:
                raise InvalidRequest("No such payment method.", code="resource_missing", param="payment_method")
            payment.payment_method = payment_method
            payment.gateway_account_id = payment_method.gateway_account_id
        payment.return_url = return_url or payment.return_url
        payment.attempts += 1
        payment.status = Payment.Status.PROCESSING
        payment.decline_code = payment.failure_message = payment.next_action_url = ""
        payment.off_session = off_session
        payment.save(
            update_fields=[
                "attempts",
                "status",
                "decline_code",
                "failure_message",
                "next_action_url",
                "off_session",
                "payment_method",
                "gateway_account",
                "return_url",
                "updated_at",
            ]
        )
        PaymentAttempt.objects.create(
            payment=payment, number=payment.attempts, idempotency_key=payment.current_idempotency_key
        )
    return _payment_attempt_run(payment=payment)


def _payment_attempt_run(*, payment: Payment) -> Payment:
    method = payment.payment_method
    account = payment.gateway_account
    request = ChargeRequest(
        amount=payment.amount,
        idempotency_key=payment.current_idempotency_key,
        payment_method_reference=method.gateway_reference,
        customer_reference=gateway_customer_reference(customer=payment.customer, account=account),
        off_session=payment.off_session,
        return_url=payment.return_url,
        description=payment.invoice.number or payment.invoice_id,
        metadata={"payment": payment.id, "invoice": payment.invoice_id},
    )
    try:
        result = gateway_for(account).charge(request)
    except Exception as error:  # a timeout or a crash at the edge: the charge may or may not exist
        logger.warning("Charge %s ended without an answer: %s", request.idempotency_key, type(error).__name__)
        result = ChargeResult(ChargeStatus.UNKNOWN, message=type(error).__name__)
    return payment_apply_result(payment=payment, attempt=payment.attempts, result=result)


@transaction.atomic
def payment_apply_result(*, payment: Payment, attempt: int, result: ChargeResult) -> Payment:
    """Move a payment on from what the gateway said. Safe to run twice: a payment that already
    reached that state, or a result for an older attempt, changes nothing."""
    payment = _lock_payment(payment.pk)
    if attempt != payment.attempts or payment.status not in OPEN_PAYMENT_STATUSES:
        return payment
    PaymentAttempt.objects.filter(payment=payment, number=attempt).update(
        outcome=result.status.value,
        decline_code=result.decline_code,
        gateway_reference=result.reference,
        completed_at=None if result.status == ChargeStatus.UNKNOWN else timezone.now(),
    )
    if result.reference:
        payment.gateway_reference = result.reference
    if result.status == ChargeStatus.UNKNOWN:
        payment.save(update_fields=["gateway_reference", "updated_at"])
        return payment
    if result.status == ChargeStatus.REQUIRES_ACTION:
        if payment.status == Payment.Status.REQUIRES_ACTION:
            return payment
        payment.status, payment.next_action_url = Payment.Status.REQUIRES_ACTION, result.action_url
        payment.save(update_fields=["status", "next_action_url", "gateway_reference", "updated_at"])
        event_emit(
            type="payment.requires_action",
            payload={"payment": payment_payload(payment)},
            customer_id=payment.customer_id,
        )
        return payment
    if result.status == ChargeStatus.SUCCEEDED:
        payment.status, payment.captured_at, payment.next_action_url = Payment.Status.SUCCEEDED, timezone.now(), ""
        if result.fee is not None:
            payment.fee, payment.net = result.fee, payment.amount - result.fee
        payment.save()
        Customer.objects.filter(pk=payment.customer_id, currency_fixed_at__isnull=True).update(
            currency=payment.amount.currency.code, currency_fixed_at=payment.captured_at
        )
        event_emit(
            type="payment.succeeded", payload={"payment": payment_payload(payment)}, customer_id=payment.customer_id
        )
        if Invoice.objects.filter(pk=payment.invoice_id, status=Invoice.Status.VOID).exists():
            # The invoice was called off (a cancel, a pause) while this charge was still open: the
            # money goes straight back rather than paying for nothing.
            transaction.on_commit(
                lambda: payment_refund(
                    payment=Payment.objects.get(pk=payment.pk), reason="invoice voided before the payment completed"
                )
            )
            return payment
        invoice_mark_paid(invoice=payment.invoice, payment=payment)
        return payment
    payment.status = Payment.Status.FAILED
    payment.decline_code = result.decline_code or "card_declined"
    payment.failure_message = (result.message or "The payment failed.")[:255]
    payment.next_action_url = ""
    payment.save()
    event_emit(type="payment.failed", payload={"payment": payment_payload(payment)}, customer_id=payment.customer_id)
    hooks.run("invoice_payment_failed", invoice=payment.invoice, payment=payment)
    return payment


def _known_customer_reference(payment: Payment) -> str:
    row = GatewayCustomer.objects.filter(
        customer_id=payment.customer_id, gateway_account_id=payment.gateway_account_id
    ).first()
    return row.reference if row else ""


def payment_sync(*, payment: Payment) -> Payment:
    """Ask the gateway where a payment stands and move it on (after 3-D Secure, a webhook, or for
    reconciliation). Never charges."""
    payment = Payment.objects.select_related("gateway_account").get(pk=payment.pk)
    if payment.status not in OPEN_PAYMENT_STATUSES:
        return payment
    attempt = payment.attempts
    try:
        result = gateway_for(payment.gateway_account).lookup(
            reference=payment.gateway_reference,
            idempotency_key=payment_idempotency_key(payment.id, attempt),
            customer_reference=_known_customer_reference(payment),
        )
    except Exception as error:
        logger.warning("Lookup of %s failed: %s", payment.id, type(error).__name__)
        return payment
    never_sent = (
        result.status == ChargeStatus.FAILED and result.decline_code == "processing_error" and not result.reference
    )
    if never_sent and payment.off_session and payment.status == Payment.Status.PROCESSING:
        # A renewal whose charge never reached the gateway (a worker died first): send it now under
        # the same idempotency key, so the gateway can take it at most once.
        return _payment_attempt_run(payment=payment)
    return payment_apply_result(payment=payment, attempt=attempt, result=result)


def payment_cancel(*, payment: Payment, reason: str = "abandoned") -> Payment:
    """Give up on a payment still waiting for the customer (3-D Secure never completed). The gateway
    calls the charge off first, so a late answer to the challenge cannot take money for a canceled
    payment; if the customer finished just before, the payment settles instead."""
    payment = Payment.objects.select_related("gateway_account").get(pk=payment.pk)
    if payment.status != Payment.Status.REQUIRES_ACTION:
        return payment
    attempt = payment.attempts
    try:
        result = gateway_for(payment.gateway_account).cancel(
            reference=payment.gateway_reference, idempotency_key=payment_idempotency_key(payment.id, attempt)
        )
    except Exception as error:  # the next sweep asks again
        logger.warning("Cancel of %s failed: %s", payment.id, type(error).__name__)
        return payment
    if result.status == ChargeStatus.SUCCEEDED:
        return payment_apply_result(payment=payment, attempt=attempt, result=result)
    with transaction.atomic():
        payment = _lock_payment(payment.pk)
        if payment.status != Payment.Status.REQUIRES_ACTION or payment.attempts != attempt:
            return payment
        payment.status, payment.failure_message, payment.next_action_url = Payment.Status.CANCELED, reason, ""
        payment.save(update_fields=["status", "failure_message", "next_action_url", "updated_at"])
        event_emit(
            type="payment.canceled", payload={"payment": payment_payload(payment)}, customer_id=payment.customer_id
        )
        hooks.run("invoice_payment_failed", invoice=payment.invoice, payment=payment)
    return payment


def payments_reconcile(
    *, as_of=None, processing_after: timedelta = timedelta(minutes=5), abandon_after: timedelta = timedelta(hours=23)
) -> dict:
    """The scheduled sweep: ask the gateway about payments left `processing` (timeouts, crashes)
    or waiting on the customer, and cancel authentications never completed. Safe to run twice."""
    now = as_of or timezone.now()
    counts = {"synced": 0, "canceled": 0}
    stale = Payment.objects.filter(status__in=OPEN_PAYMENT_STATUSES, updated_at__lt=now - processing_after)
    for payment in stale.order_by("updated_at")[:500]:
        try:
            synced = payment_sync(payment=payment)
        except Exception:  # one payment must not stop the sweep for the others
            logger.exception("Reconciling %s failed", payment.id)
            continue
        counts["synced"] += 1
        if synced.status == Payment.Status.REQUIRES_ACTION and synced.created_at < now - abandon_after:
            payment_cancel(payment=synced)
            counts["canceled"] += 1
    return counts


# --- Refunds ------------------------------------------------------------------------------------


def refund_payload(refund: Refund) -> dict:
    currency = refund.amount.currency.code
    return {
        "id": refund.id,
        "payment": refund.payment_id,
        "amount": {"amount": format_amount(refund.amount.amount, currency), "currency": currency},
        "status": refund.status,
        "reason": refund.reason,
    }


def payment_refund(*, payment: Payment, amount: Money | None = None, reason: str = "") -> Refund:
    """Give money back: all that is left by default. The amount is reserved on the payment (a
    database constraint keeps the sum within what was captured) before the gateway is called."""
    with transaction.atomic():
        payment = _lock_payment(payment.pk)
        if payment.status not in (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED):
            raise Unprocessable(f"A {payment.status} payment cannot be refunded.", code="payment_not_refundable")
        currency = payment.amount.currency.code
        left = payment.amount.amount - payment.amount_refunded
        if left <= 0:
            raise Unprocessable(
                "Nothing is left to refund on this payment.", code="refund_exceeds_payment", param="amount"
            )
        value = left if amount is None else money(amount.amount, currency).amount
        if amount is not None and amount.currency.code != currency:
            raise InvalidRequest(f"The refund must be in {currency}.", code="currency_mismatch", param="amount")
        if value <= 0:
            raise InvalidRequest("The refund must be more than zero.", code="amount_invalid", param="amount")
        if value > left:
            raise Unprocessable(
                f"Only {format_amount(left, currency)} {currency} is left to refund.",
                code="refund_exceeds_payment",
                param="amount",
            )
        refund = Refund.objects.create(payment=payment, amount=Money(value, currency), reason=reason[:255])
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") + value)
    return _refund_run(refund=refund)


def _refund_run(*, refund: Refund) -> Refund:
    payment = refund.payment
    try:
        result = gateway_for(payment.gateway_account).refund(
            reference=payment.gateway_reference, amount=refund.amount, idempotency_key=refund.id
        )
    except Exception as error:
        logger.warning("Refund %s ended without an answer: %s", refund.id, type(error).__name__)
        result = RefundResult(RefundStatus.UNKNOWN)
    return refund_apply_result(refund=refund, result=result)


@transaction.atomic
def refund_apply_result(*, refund: Refund, result: RefundResult) -> Refund:
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != Refund.Status.PENDING or result.status in (RefundStatus.UNKNOWN, RefundStatus.PENDING):
        if result.reference and not refund.gateway_reference:
            Refund.objects.filter(pk=refund.pk).update(gateway_reference=result.reference)
        return refund
    payment = _lock_payment(refund.payment_id)
    if result.status == RefundStatus.FAILED:
        refund.status, refund.failure_message = Refund.Status.FAILED, result.message[:255]
        refund.save(update_fields=["status", "failure_message", "updated_at"])
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") - refund.amount.amount)
        return refund
    refund.status, refund.gateway_reference = Refund.Status.SUCCEEDED, result.reference
    refund.save(update_fields=["status", "gateway_reference", "updated_at"])
    # Only confirmed refunds count: a pending one may still fail and give its amount back.
    fully = _refunded_total(payment) >= payment.amount.amount
    payment.status = Payment.Status.REFUNDED if fully else Payment.Status.PARTIALLY_REFUNDED
    payment.save(update_fields=["status", "updated_at"])
    event_emit(
        type="payment.refunded",
        payload={"payment": payment_payload(payment), "refund": refund_payload(refund)},
        customer_id=payment.customer_id,
    )
    hooks.run("payment_refunded", payment=payment, refund=refund, fully_refunded=fully)
    return refund


def _refunded_total(payment: Payment) -> Decimal:
    total = Refund.objects.filter(payment=payment, status=Refund.Status.SUCCEEDED).aggregate(total=Sum("amount"))
    return total["total"] or Decimal(0)


def refunds_reconcile(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Ask again about refunds left pending (same idempotency key: never refunds twice)."""
    pending = Refund.objects.filter(status=Refund.Status.PENDING, updated_at__lt=timezone.now() - older_than)
    count = 0
    for refund in pending.select_related("payment__gateway_account")[:500]:
        _refund_run(refund=refund)
        count += 1
    return count


# --- Settlement ---------------------------------------------------------------------------------


def _payout_paid_event(payout_id: str) -> None:
    payout = Payout.objects.get(pk=payout_id)
    currency = payout.amount.currency.code
    event_emit(
        type="payout.paid",
        payload={
            "payout": {
                "id": payout.id,
                "gateway": payout.gateway_account_id,
                "amount": {"amount": format_amount(payout.amount.amount, currency), "currency": currency},
                "fee_total": {"amount": format_amount(payout.fee_total.amount, currency), "currency": currency},
                "payments": payout.payments.count(),
                "arrival_date": payout.arrival_date.isoformat(),
            }
        },
    )


def payouts_create_sandbox(*, as_of=None) -> list[Payout]:
    """The sandbox's settlement: payments captured two days ago or more, net of their fees and of
    refunds since, are paid out per gateway account and currency. Safe to run twice."""
    from payments.gateways.sandbox import SETTLEMENT_DAYS, SandboxGateway

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


def payment_sync_by_reference(*, reference: str, gateway_account_id: str | None = None) -> Payment | None:
    """Move on the payment behind a gateway reference (a 3-D Secure return, a webhook)."""
    payments = Payment.objects.filter(gateway_reference=reference)
    if gateway_account_id:
        payments = payments.filter(gateway_account_id=gateway_account_id)
    payment = payments.first()
    return payment_sync(payment=payment) if payment else None


# --- Gateway webhooks ---------------------------------------------------------------------------

_PAYMENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.canceled",
    "payment_intent.processing",
    "charge.succeeded",
    "charge.failed",
)


def gateway_webhook_receive(*, gateway_account_id: str, body: bytes, headers: dict) -> str:
    """Take a gateway's notification. The signature is checked before anything is stored; the
    record of the event, dj-stripe's copy and our own changes commit together or not at all, so a
    failing handler leaves nothing behind and the gateway's retry is processed afresh, while a
    second delivery of a processed event is a no-op. Returns "processed" or "duplicate"."""
    account = GatewayAccount.objects.filter(pk=gateway_account_id).first()
    if account is None:
        raise NotFound("No such gateway account.")
    notice = gateway_for(account).parse_webhook(body=body, headers=headers)  # raises WebhookRejected
    if not notice.event_id:
        raise WebhookRejected("The event has no id.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                GatewayWebhookEvent.objects.create(gateway_account=account, event_id=notice.event_id, type=notice.type)
        except IntegrityError:
            return "duplicate"
        if account.provider == "stripe":
            _djstripe_process(account=account, event=notice.raw)
        _webhook_apply(account=account, notice=notice)
    return "processed"


def _djstripe_process(*, account: GatewayAccount, event: dict) -> None:
    """dj-stripe keeps its own mirror of Stripe's objects from the same event."""
    from djstripe.models import Event as StripeEvent

    StripeEvent.process(data=event, api_key=account.credentials.get("secret_key"))


def _webhook_apply(*, account: GatewayAccount, notice) -> None:
    obj = (notice.raw.get("data") or {}).get("object") or {}
    if notice.type in _PAYMENT_EVENTS and notice.payment_reference:
        payment = payment_sync_by_reference(reference=notice.payment_reference, gateway_account_id=account.id)
        if payment is not None and payment.status == Payment.Status.SUCCEEDED and payment.fee is None:
            payment_fee_record(payment=payment)
    elif obj.get("object") == "refund":
        refund = Refund.objects.filter(gateway_reference=obj.get("id"), payment__gateway_account=account).first()
        status = {"succeeded": RefundStatus.SUCCEEDED, "failed": RefundStatus.FAILED, "canceled": RefundStatus.FAILED}
        if refund is not None and obj.get("status") in status:
            refund_apply_result(refund=refund, result=RefundResult(status[obj["status"]], reference=obj["id"]))
    elif notice.type == "payout.paid":
        payout_record(account=account, payout=obj)


def payment_fee_record(*, payment: Payment) -> Payment:
    """The gateway's fee and our net for a captured payment (Stripe: its balance transaction)."""
    gateway = gateway_for(payment.gateway_account)
    balance = getattr(gateway, "balance_for", None)
    amounts = balance(reference=payment.gateway_reference) if balance else None
    if amounts is not None:
        fee, net = amounts
        Payment.objects.filter(pk=payment.pk, fee__isnull=True).update(
            fee=fee.amount, fee_currency=fee.currency.code, net=net.amount, net_currency=net.currency.code
        )
        payment.refresh_from_db()
    return payment


def payout_record(*, account: GatewayAccount, payout: dict) -> Payout | None:
    """A payout the gateway sent to the bank, with the payments settled in it."""
    from datetime import UTC, datetime

    gateway = gateway_for(account)
    listing = getattr(gateway, "payout_payment_references", None)
    currency = str(payout.get("currency", "")).upper()
    amount = from_minor_units(int(payout.get("amount", 0)), currency)
    arrival = datetime.fromtimestamp(int(payout.get("arrival_date") or 0), tz=UTC).date()
    record, created = Payout.objects.get_or_create(
        gateway_account=account,
        gateway_reference=payout.get("id", ""),
        defaults={
            "amount": amount,
            "fee_total": money(0, currency),
            "status": Payout.Status.PAID,
            "arrival_date": arrival,
        },
    )
    if not created or listing is None:
        return record
    references = listing(payout_reference=record.gateway_reference)
    payments = Payment.objects.filter(
        gateway_account=account, gateway_reference__in=list(references), payout__isnull=True
    )
    payments.update(payout=record)
    settled = [p if p.fee is not None else payment_fee_record(payment=p) for p in record.payments.all()]
    fees = sum((p.fee.amount for p in settled if p.fee is not None), Decimal(0))
    Payout.objects.filter(pk=record.pk).update(fee_total=fees)
    _payout_paid_event(record.pk)
    return record


# --- Batches (the billing engine's renewals) ----------------------------------------------------


@dataclass(frozen=True)
class InvoiceSpec:
    customer_id: str
    currency: str
    line: LineSpec
    source: str
    description: str = ""


def invoices_issue_batch(*, specs: list[InvoiceSpec]) -> list[Invoice]:
    """Open, numbered one-line invoices for many customers in a few statements, with their
    invoice.created events. Runs in the caller's transaction; sources must be new."""
    if not specs:
        return []
    now = timezone.now()
    numbers = invoice_numbers_reserve(year=now.year, count=len(specs))
    invoices, lines, events = [], [], []
    for spec, number in zip(specs, numbers, strict=True):
        unit = money(spec.line.unit_amount.amount, spec.currency)
        zero = money(0, spec.currency)
        invoice = Invoice(
            customer_id=spec.customer_id,
            currency=spec.currency,
            number=number,
            status=Invoice.Status.OPEN,
            subtotal=unit,
            discount_total=zero,
            tax_total=zero,
            total=unit,
            source=spec.source,
            description=spec.description[:255],
            finalized_at=now,
        )
        invoices.append(invoice)
        lines.append(
            InvoiceLine(
                invoice=invoice,
                position=1,
                description=spec.line.description[:255],
                quantity=1,
                unit_amount=unit,
                discount_amount=zero,
                tax_amount=zero,
                total=unit,
                reference=spec.line.reference,
            )
        )
        events.append(
            Event(
                type="invoice.created",
                payload=_frozen({"invoice": invoice_payload(invoice)}),
                customer_id=spec.customer_id,
            )
        )
    Invoice.objects.bulk_create(invoices)
    InvoiceLine.objects.bulk_create(lines)
    Event.objects.bulk_create(events)
    return invoices


def payments_start_batch(*, invoices: list[Invoice], methods: list[PaymentMethod]) -> list[Payment]:
    """Off-session payments (attempt 1, `processing`) for open invoices, with their attempt rows
    and idempotency keys. Runs in the caller's transaction, which must commit before charging."""
    payments = [
        Payment(
            customer_id=invoice.customer_id,
            invoice=invoice,
            gateway_account_id=method.gateway_account_id,
            payment_method=method,
            amount=invoice.total,
            off_session=True,
            attempts=1,
        )
        for invoice, method in zip(invoices, methods, strict=True)
    ]
    Payment.objects.bulk_create(payments)
    PaymentAttempt.objects.bulk_create(
        [PaymentAttempt(payment=p, number=1, idempotency_key=p.current_idempotency_key) for p in payments]
    )
    return payments


def payments_charge_batch(*, payments: list[Payment]) -> list[ChargeResult]:
    """Charge started payments, per gateway account; a gateway with `charge_many` takes them all
    in one call. A gateway that gives no answer leaves UNKNOWN (reconciliation asks later)."""
    results: dict[str, ChargeResult] = {}
    by_account: dict[str, list[Payment]] = {}
    for payment in payments:
        by_account.setdefault(payment.gateway_account_id, []).append(payment)
    accounts = GatewayAccount.objects.in_bulk(list(by_account))
    for account_id, group in by_account.items():
        gateway = gateway_for(accounts[account_id])
        requests = [
            ChargeRequest(
                amount=p.amount,
                idempotency_key=p.current_idempotency_key,
                payment_method_reference=p.payment_method.gateway_reference,
                off_session=True,
                description=p.invoice.number or p.invoice_id,
                metadata={"payment": p.id, "invoice": p.invoice_id},
            )
            for p in group
        ]
        try:
            if hasattr(gateway, "charge_many"):
                answers = gateway.charge_many(requests)
            else:
                answers = [_charge_or_unknown(gateway, request) for request in requests]
        except Exception as error:
            logger.warning("Batch charge on %s ended without an answer: %s", account_id, type(error).__name__)
            answers = [ChargeResult(ChargeStatus.UNKNOWN) for _ in requests]
        results.update({p.id: answer for p, answer in zip(group, answers, strict=True)})
    return [results[p.id] for p in payments]


def _charge_or_unknown(gateway, request: ChargeRequest) -> ChargeResult:
    try:
        return gateway.charge(request)
    except Exception as error:
        logger.warning("Charge %s ended without an answer: %s", request.idempotency_key, type(error).__name__)
        return ChargeResult(ChargeStatus.UNKNOWN)


def payments_apply_succeeded_batch(*, payments: list[Payment], results: list[ChargeResult]) -> list[Payment]:
    """Settle payments the gateway captured, and their invoices, in a few statements, with the
    payment.succeeded and invoice.paid events. For callers that settle what the invoices were for
    themselves (the billing engine): the invoice_paid hook is not run. Runs in the caller's
    transaction; payments no longer `processing` are left out."""
    ids = [p.id for p in payments]
    locked = {p.id: p for p in Payment.objects.select_for_update().filter(pk__in=ids, status=Payment.Status.PROCESSING)}
    now = timezone.now()
    settled, events = [], []
    for payment, result in zip(payments, results, strict=True):
        if payment.id not in locked or result.status != ChargeStatus.SUCCEEDED:
            continue
        payment.status, payment.captured_at, payment.gateway_reference = Payment.Status.SUCCEEDED, now, result.reference
        if result.fee is not None:
            payment.fee, payment.net = result.fee, payment.amount - result.fee
        settled.append(payment)
        events.append(
            Event(
                type="payment.succeeded",
                payload=_frozen({"payment": payment_payload(payment)}),
                customer_id=payment.customer_id,
            )
        )
    if not settled:
        return []
    for payment in settled:
        payment.updated_at = now
    update_rows(
        settled,
        ["status", "captured_at", "gateway_reference", "fee", "fee_currency", "net", "net_currency", "updated_at"],
    )
    PaymentAttempt.objects.filter(payment__in=settled, number=1).update(
        outcome=ChargeStatus.SUCCEEDED.value, completed_at=now
    )
    invoice_ids = [p.invoice_id for p in settled]
    Invoice.objects.filter(pk__in=invoice_ids, status=Invoice.Status.OPEN).update(
        status=Invoice.Status.PAID, paid_at=now
    )
    by_currency: dict[str, set[str]] = {}
    for payment in settled:
        by_currency.setdefault(payment.amount.currency.code, set()).add(payment.customer_id)
    for currency, customer_ids in by_currency.items():  # the first payment fixes the customer's currency
        Customer.objects.filter(pk__in=customer_ids, currency_fixed_at__isnull=True).update(
            currency=currency, currency_fixed_at=now
        )
    for payment in settled:
        invoice = payment.invoice
        invoice.status, invoice.paid_at = Invoice.Status.PAID, now
        events.append(
            Event(
                type="invoice.paid",
                payload=_frozen({"invoice": invoice_payload(invoice)}),
                customer_id=payment.customer_id,
            )
        )
    Event.objects.bulk_create(events)
    return settled
