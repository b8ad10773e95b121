"""Cards kept at a gateway (brand, last four, expiry and fingerprint only), and the customer at each gateway."""

import logging

from django.db import transaction
from django.utils import timezone

from integrations.kernel.errors import CardError, Conflict, InvalidRequest, NotFound, ServiceUnavailable, Unprocessable
from integrations.services import event_emit
from payments import hooks
from payments.gateways.base import (
    CardDeclined,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayUnavailable,
)
from payments.gateways.registry import gateway_for
from payments.models import (
    Customer,
    GatewayAccount,
    GatewayCustomer,
    PaymentMethod,
)
from payments.representations import (
    payment_method_repr,
)
from payments.selectors import gateway_account_serves
from payments.services.data_protection import gateway_cards_release_later
from payments.services.gateway_health import gateway_answered, gateway_unanswered

logger = logging.getLogger("payments")


def card_country(value: str) -> str:
    """A gateway's issuing country as we keep it: ISO 3166-1 alpha-2, or "" when it is not one."""
    text = (value or "").strip().upper()
    return text if len(text) == 2 and text.isascii() and text.isalpha() else ""


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


def gateway_account_check(*, account: GatewayAccount, customer: Customer, param: str) -> None:
    """New cards and customer-initiated charges go only through an account that serves the
    customer's country and currency (renewals stay on the gateway that holds the card)."""
    if not gateway_account_serves(account, country=customer.country, currency=customer.currency):
        raise Unprocessable(
            f"This gateway does not serve {customer.country or 'this country'} in {customer.currency}.",
            code="no_gateway_available",
            param=param,
        )


def payment_method_attach(*, customer: Customer, gateway_account_id: str, token: str) -> PaymentMethod:
    """Keep a card the app tokenized with a gateway: brand, last four, expiry and fingerprint only."""
    account = GatewayAccount.objects.filter(pk=gateway_account_id, active=True).first()
    if account is None:
        raise InvalidRequest("No such gateway.", code="resource_missing", param="gateway")
    gateway_account_check(account=account, customer=customer, param="gateway")
    if not isinstance(token, str) or not token.strip():
        raise InvalidRequest("token is required.", code="parameter_missing", param="token")
    try:
        attached = gateway_for(account).attach(
            token=token.strip(),
            customer_reference=gateway_customer_reference(customer=customer, account=account),
            currency=customer.currency,
        )
    except CardDeclined as error:
        gateway_answered(account=account)
        raise CardError(str(error), code=error.code) from None
    except GatewayUnavailable as error:
        gateway_unanswered(account=account, message=str(error))
        raise ServiceUnavailable(
            "The payment gateway did not answer. Ask GET /api/v1/me/gateway again: it names the gateway "
            "to tokenize the card with now.",
            code="gateway_unavailable",
            param="gateway",
        ) from None
    except GatewayError as error:
        gateway_answered(account=account)
        raise InvalidRequest(str(error), code=error.code, param="token") from None
    gateway_answered(account=account)

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
            country=card_country(card.country),
            is_default=not has_default,
        )
        event_emit(
            type="payment_method.attached",
            payload={"payment_method": payment_method_repr(method)},
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
        result = gateway_for(account).setup(
            payment_method_reference=payment_method.gateway_reference,
            idempotency_key=f"setup-{payment_method.id}-{purpose}",
            customer_reference=gateway_customer_reference(customer=payment_method.customer, account=account),
            return_url=return_url,
            currency=payment_method.customer.currency,
        )
    except Exception as error:  # no answer: the trial goes on; its first charge asks again if need be
        logger.warning("Card setup for %s ended without an answer: %s", payment_method.id, type(error).__name__)
        result = ChargeResult(ChargeStatus.UNKNOWN, message=type(error).__name__)
    if result.status == ChargeStatus.UNKNOWN:
        gateway_unanswered(account=account, message=result.message or "card setup unanswered")
    else:
        gateway_answered(account=account)
    return result


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
            payload={"payment_method": payment_method_repr(method)},
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
        payload={"payment_method": payment_method_repr(method)},
        customer_id=method.customer_id,
    )
    gateway_cards_release_later(customer_id=method.customer_id)


def setup_authentication_return(*, gateway_account_id: str, idempotency_key: str, params: dict) -> ChargeResult | None:
    """The cardholder is back from a card setup's 3-D Secure (a trial behind a card, Adyen): the
    gateway finishes the authentication, which is the mandate later renewals charge under. Our
    rows do not change: the trial runs either way, and its first charge tells."""
    account = GatewayAccount.objects.filter(pk=gateway_account_id).first()
    if account is None or not idempotency_key.startswith("setup-") or not params:
        return None
    try:
        return gateway_for(account).authentication_complete(
            reference="", idempotency_key=idempotency_key, params=params
        )
    except Exception as error:
        logger.warning("Finishing card setup %s failed: %s", idempotency_key, type(error).__name__)
        return None
