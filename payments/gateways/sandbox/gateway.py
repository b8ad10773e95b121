"""The built-in sandbox gateway: offline and deterministic, with Stripe's test-card behaviours.

It keeps its own records (`sandbox_models`) as a real gateway would on its side, answers charges by
idempotency key, hosts a 3-D Secure challenge page, and settles two days after capture.
"""

import hashlib
import hmac
import secrets
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from integrations.kernel.errors import CardError, InvalidRequest, NotFound
from payments.currency import minor_digits, quantize
from payments.gateways.base import (
    AttachResult,
    CardDetails,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Gateway,
    GatewayError,
    GatewayUnavailable,
    RefundResult,
    RefundStatus,
)
from payments.gateways.sandbox.models import SandboxCard, SandboxCharge, SandboxRefund

Behaviour = SandboxCard.Behaviour

# Stripe's test numbers and what they do; any other valid number simply succeeds.
TEST_CARDS = {
    "4242424242424242": Behaviour.SUCCEED,
    "5555555555554444": Behaviour.SUCCEED,
    "4000002500003155": Behaviour.AUTH_ON_SESSION,
    "4000002760003184": Behaviour.AUTH_ALWAYS,
    "4000000000000002": Behaviour.DECLINE,
    "4000000000009995": Behaviour.INSUFFICIENT_FUNDS,
    "4000000000009987": Behaviour.LOST_CARD,
    "4000000000000069": Behaviour.EXPIRED,
    "4000000000000341": Behaviour.CHARGE_FAILS,
    "4000000000000119": Behaviour.PROCESSING_ERROR,
}
# Stripe's international test cards, by issuing country; they succeed like 4242.
CARD_COUNTRIES = {
    "4242424242424242": "US",
    "4000002500000003": "FR",
    "4000002760000016": "DE",
    "4000008260000000": "GB",
    "4000000560000004": "BE",
    "4000003800000008": "IT",
    "4000005280000002": "NL",
    "4000007240000007": "ES",
}
_DECLINES = {
    Behaviour.DECLINE: "card_declined",
    Behaviour.CHARGE_FAILS: "card_declined",
    Behaviour.INSUFFICIENT_FUNDS: "insufficient_funds",
    Behaviour.LOST_CARD: "lost_card",
    Behaviour.EXPIRED: "expired_card",
}
SETTLEMENT_DAYS = 2
FEE_PERCENT = Decimal("0.029")
FEE_FIXED_MINOR_UNITS = 25


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    two, four = int(number[:2]), int(number[:4])
    if number.startswith("4"):
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if number.startswith("6011") or two == 65 or 644 <= int(number[:3]) <= 649:
        return "discover"
    if 3528 <= four <= 3589:
        return "jcb"
    if two in (36, 38) or 300 <= int(number[:3]) <= 305:
        return "diners"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def sandbox_fee(amount: Money) -> Money:
    currency = amount.currency.code
    fixed = Decimal(FEE_FIXED_MINOR_UNITS).scaleb(-minor_digits(currency))
    return Money(quantize(amount.amount * FEE_PERCENT + fixed, currency), currency)


def _fingerprint(*, publishable_key: str, number: str) -> str:
    key = hashlib.sha256(f"sandbox-fingerprint:{settings.SECRET_KEY}:{publishable_key}".encode()).digest()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()[:32]


def _sandbox_account_for_key(publishable_key: str):
    from payments.models import GatewayAccount

    for account in GatewayAccount.objects.filter(provider=SandboxGateway.provider, active=True):
        if secrets.compare_digest(str(account.credentials.get("publishable_key", "")), str(publishable_key)):
            return account
    return None


def sandbox_enabled() -> bool:
    from payments.models import GatewayAccount

    return (
        SandboxGateway.enabled()
        and GatewayAccount.objects.filter(provider=SandboxGateway.provider, active=True).exists()
    )


def sandbox_tokenize(*, publishable_key: str, number: object, exp_month: object, exp_year: object, cvc: object):
    """The sandbox's stand-in for a gateway-hosted card form. The number is checked, reduced to
    brand, last four and a keyed fingerprint, and forgotten."""
    if _sandbox_account_for_key(publishable_key) is None:
        raise InvalidRequest("Unknown publishable_key.", code="invalid_publishable_key", param="publishable_key")
    digits = "".join(str(number or "").split())
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        raise InvalidRequest("The card number is not valid.", code="invalid_number", param="card.number")
    try:
        month, year = int(exp_month), int(exp_year)
    except (TypeError, ValueError):
        raise InvalidRequest("The expiry is not valid.", code="invalid_expiry", param="card.exp_month") from None
    if year < 100:
        year += 2000
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise InvalidRequest("The expiry is not valid.", code="invalid_expiry", param="card.exp_month")
    today = timezone.now().date()
    if (year, month) < (today.year, today.month):
        raise CardError("The card has expired.", code="expired_card", param="card.exp_year")
    cvc = str(cvc or "")
    if not cvc.isdigit() or len(cvc) not in (3, 4):
        raise InvalidRequest("The security code is not valid.", code="invalid_cvc", param="card.cvc")
    return SandboxCard.objects.create(
        publishable_key=publishable_key,
        brand=card_brand(digits),
        last4=digits[-4:],
        exp_month=month,
        exp_year=year,
        fingerprint=_fingerprint(publishable_key=publishable_key, number=digits),
        behaviour=TEST_CARDS.get(digits, Behaviour.SUCCEED),
        country=CARD_COUNTRIES.get(digits, ""),
    )


def _result(charge: SandboxCharge) -> ChargeResult:
    money = Money(charge.amount, charge.currency)
    if charge.status == SandboxCharge.Status.SUCCEEDED:
        return ChargeResult(ChargeStatus.SUCCEEDED, reference=charge.id, fee=sandbox_fee(money))
    if charge.status == SandboxCharge.Status.REQUIRES_ACTION:
        url = settings.SITE_URL + reverse("sandbox-challenge", args=[charge.id])
        return ChargeResult(ChargeStatus.REQUIRES_ACTION, reference=charge.id, action_url=url)
    return ChargeResult(
        ChargeStatus.FAILED,
        reference=charge.id,
        decline_code=charge.decline_code,
        message=_message(charge.decline_code),
    )


def _message(decline_code: str) -> str:
    return {
        "card_declined": "The card was declined.",
        "insufficient_funds": "The card has insufficient funds.",
        "lost_card": "The card was declined.",
        "expired_card": "The card has expired.",
        "authentication_required": "The bank asks the cardholder to authenticate this payment.",
        "authentication_failed": "The cardholder did not complete authentication.",
        "payment_canceled": "The payment was canceled before the cardholder authenticated it.",
    }.get(decline_code, "The payment failed.")


def _outcome(card: SandboxCard, *, off_session: bool) -> tuple[str, str]:
    """(status, decline code) of a new charge on this card."""
    today = timezone.now().date()
    if (card.exp_year, card.exp_month) < (today.year, today.month):
        return SandboxCharge.Status.FAILED, "expired_card"
    if card.behaviour in _DECLINES:
        return SandboxCharge.Status.FAILED, _DECLINES[card.behaviour]
    needs_auth = card.behaviour == Behaviour.AUTH_ALWAYS or (
        card.behaviour == Behaviour.AUTH_ON_SESSION and not card.mandate
    )
    if needs_auth:
        if off_session:
            return SandboxCharge.Status.FAILED, "authentication_required"
        return SandboxCharge.Status.REQUIRES_ACTION, ""
    return SandboxCharge.Status.SUCCEEDED, ""


def _charge_row(card: SandboxCard, request: ChargeRequest, *, status: str, decline_code: str) -> SandboxCharge:
    return SandboxCharge(
        card=card,
        idempotency_key=request.idempotency_key,
        amount=request.amount.amount,
        currency=request.amount.currency.code,
        off_session=request.off_session,
        status=status,
        decline_code=decline_code,
        return_url=request.return_url,
    )


def sandbox_challenge_complete(*, charge_id: str, approve: bool) -> SandboxCharge:
    """The cardholder's answer on the hosted 3-D Secure page."""
    with transaction.atomic():
        charge = SandboxCharge.objects.select_for_update().select_related("card").filter(pk=charge_id).first()
        if charge is None:
            raise NotFound("No such challenge.")
        if charge.status != SandboxCharge.Status.REQUIRES_ACTION:
            return charge  # answered already: a double click changes nothing
        if approve:
            charge.status = SandboxCharge.Status.SUCCEEDED
            SandboxCard.objects.filter(pk=charge.card_id).update(mandate=True)
        else:
            charge.status, charge.decline_code = SandboxCharge.Status.FAILED, "authentication_failed"
        charge.save(update_fields=["status", "decline_code"])
    return charge


# With SANDBOX_ENABLED off, a sandbox card (made while it was on) never pays for anything.
_SWITCHED_OFF = ChargeResult(ChargeStatus.FAILED, decline_code="gateway_disabled", message="The sandbox is off.")


def _no_answer():
    return GatewayUnavailable("The sandbox is in an outage drill: no answer.")


class SandboxGateway(Gateway):
    provider = "sandbox"
    supports_batch = True
    supports_setup = True
    supports_refund_lookup = True
    supports_outage_drill = True

    disabled_message = "The sandbox gateway is off on this deployment (SANDBOX_ENABLED)."

    @classmethod
    def enabled(cls) -> bool:
        return settings.SANDBOX_ENABLED

    @classmethod
    def default_credentials(cls) -> dict:
        return {
            "publishable_key": "pk_sandbox_" + secrets.token_hex(12),
            "secret_key": "sk_sandbox_" + secrets.token_hex(16),
        }

    @classmethod
    def secret_credential_names(cls) -> tuple[str, ...]:
        return ("secret_key",)

    @classmethod
    def credential_names(cls) -> tuple[str, ...]:
        return ("publishable_key", "secret_key")

    def client_config(self) -> dict:
        return {
            "tokenize_url": settings.SITE_URL + reverse("sandbox-tokens"),
            "publishable_key": self.credentials.get("publishable_key", ""),
        }

    @property
    def _down(self) -> bool:
        return bool(getattr(self.account, "outage_drill", False))

    def attach(self, *, token: str, customer_reference: str = "", currency: str = "") -> AttachResult:
        if self._down:
            raise _no_answer()
        card = SandboxCard.objects.filter(pk=token, publishable_key=self.credentials.get("publishable_key", "")).first()
        if card is None:
            raise GatewayError("Unknown card token for this gateway.", code="invalid_token")
        details = CardDetails(
            card.brand, card.last4, card.exp_month, card.exp_year, card.fingerprint, country=card.country
        )
        return AttachResult(reference=card.token, card=details)

    def charge(self, request: ChargeRequest) -> ChargeResult:
        if not self.enabled():
            return _SWITCHED_OFF
        if self._down:  # nothing reaches it: the charge is not made
            return ChargeResult(ChargeStatus.UNKNOWN, message=str(_no_answer()))
        existing = SandboxCharge.objects.filter(idempotency_key=request.idempotency_key).first()
        if existing is not None:
            return _result(existing)
        card = SandboxCard.objects.filter(pk=request.payment_method_reference).first()
        if card is None:
            return ChargeResult(ChargeStatus.FAILED, decline_code="payment_method_invalid", message="Unknown card.")
        status, decline_code = _outcome(card, off_session=request.off_session)
        if card.behaviour == Behaviour.PROCESSING_ERROR:
            status = SandboxCharge.Status.SUCCEEDED  # it goes through, but the answer is lost on the way back
        charge = _charge_row(card, request, status=status, decline_code=decline_code)
        if not _inserted(charge):  # the same key raced in: answer as the first
            return _result(SandboxCharge.objects.get(idempotency_key=request.idempotency_key))
        if card.behaviour == Behaviour.PROCESSING_ERROR:
            return ChargeResult(ChargeStatus.UNKNOWN, message="processing_error: no answer from the card network.")
        return _result(charge)

    def setup(
        self,
        *,
        payment_method_reference: str,
        idempotency_key: str,
        customer_reference: str = "",
        return_url: str = "",
        currency: str = "",
    ) -> ChargeResult:
        """A zero-amount authentication: cards that ask for 3-D Secure get the challenge page once,
        and an approved challenge sets the card up for off-session payments."""
        if not self.enabled():
            return _SWITCHED_OFF
        if self._down:
            return ChargeResult(ChargeStatus.UNKNOWN, message=str(_no_answer()))
        existing = SandboxCharge.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _result(existing)
        card = SandboxCard.objects.filter(pk=payment_method_reference).first()
        if card is None:
            return ChargeResult(ChargeStatus.FAILED, decline_code="payment_method_invalid", message="Unknown card.")
        status, decline_code = _outcome(card, off_session=False)
        if card.behaviour == Behaviour.CHARGE_FAILS:  # it attaches and sets up; only charges fail
            status, decline_code = SandboxCharge.Status.SUCCEEDED, ""
        try:
            with transaction.atomic():
                charge = SandboxCharge.objects.create(
                    card=card,
                    idempotency_key=idempotency_key,
                    amount=Decimal(0),
                    currency="EUR",
                    off_session=False,
                    status=status,
                    decline_code=decline_code,
                    return_url=return_url,
                )
        except IntegrityError:
            return _result(SandboxCharge.objects.get(idempotency_key=idempotency_key))
        if status == SandboxCharge.Status.SUCCEEDED and card.behaviour == Behaviour.AUTH_ON_SESSION:
            SandboxCard.objects.filter(pk=card.pk).update(mandate=True)
        return _result(charge)

    def charge_many(self, requests: list[ChargeRequest]) -> list[ChargeResult]:
        """Many charges in a few statements (the billing engine's renewals); same outcomes and the
        same idempotency as `charge` one by one."""
        if not self.enabled():
            return [_SWITCHED_OFF for _ in requests]
        if self._down:
            return [ChargeResult(ChargeStatus.UNKNOWN, message=str(_no_answer())) for _ in requests]
        keys = [request.idempotency_key for request in requests]
        existing = {charge.idempotency_key: charge for charge in SandboxCharge.objects.filter(idempotency_key__in=keys)}
        cards = SandboxCard.objects.in_bulk([request.payment_method_reference for request in requests])
        results: dict[str, ChargeResult] = {}
        new = []
        for request in requests:
            card = cards.get(request.payment_method_reference)
            if request.idempotency_key in existing:
                results[request.idempotency_key] = _result(existing[request.idempotency_key])
            elif card is None or card.behaviour == Behaviour.PROCESSING_ERROR:
                results[request.idempotency_key] = self.charge(request)
            else:
                status, decline_code = _outcome(card, off_session=request.off_session)
                new.append(_charge_row(card, request, status=status, decline_code=decline_code))
        try:
            with transaction.atomic():
                SandboxCharge.objects.bulk_create(new)
        except IntegrityError:  # a key raced in: answer each one by one, idempotently
            return [self.charge(request) for request in requests]
        results.update({charge.idempotency_key: _result(charge) for charge in new})
        return [results[key] for key in keys]

    def lookup(self, *, reference: str, idempotency_key: str, customer_reference: str = "") -> ChargeResult:
        if self._down:
            raise _no_answer()
        charge = None
        if reference:
            charge = SandboxCharge.objects.filter(pk=reference).first()
        if charge is None and idempotency_key:
            charge = SandboxCharge.objects.filter(idempotency_key=idempotency_key).first()
        if charge is None:
            return ChargeResult(
                ChargeStatus.FAILED, decline_code="processing_error", message="The charge never reached the gateway."
            )
        return _result(charge)

    def cancel(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        if self._down:
            raise _no_answer()
        with transaction.atomic():
            charges = SandboxCharge.objects.select_for_update()
            charge = charges.filter(pk=reference).first() if reference else None
            if charge is None and idempotency_key:
                charge = charges.filter(idempotency_key=idempotency_key).first()
            if charge is None:
                return self.lookup(reference=reference, idempotency_key=idempotency_key)
            if charge.status == SandboxCharge.Status.REQUIRES_ACTION:
                charge.status, charge.decline_code = SandboxCharge.Status.FAILED, "payment_canceled"
                charge.save(update_fields=["status", "decline_code"])
        return _result(charge)

    def refund(self, *, reference: str, amount: Money, idempotency_key: str) -> RefundResult:
        if self._down:
            return RefundResult(RefundStatus.UNKNOWN)
        existing = SandboxRefund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return RefundResult(RefundStatus.SUCCEEDED, reference=existing.id)
        with transaction.atomic():
            charge = SandboxCharge.objects.select_for_update().filter(pk=reference).first()
            if charge is None or charge.status != SandboxCharge.Status.SUCCEEDED:
                return RefundResult(RefundStatus.FAILED, message="No captured charge to refund.")
            if charge.amount_refunded + amount.amount > charge.amount:
                return RefundResult(RefundStatus.FAILED, message="The refund exceeds what is left of the charge.")
            refund = SandboxRefund.objects.create(charge=charge, idempotency_key=idempotency_key, amount=amount.amount)
            charge.amount_refunded += amount.amount
            charge.save(update_fields=["amount_refunded"])
        return RefundResult(RefundStatus.SUCCEEDED, reference=refund.id)

    def refund_lookup(self, *, reference: str, payment_reference: str, idempotency_key: str) -> RefundResult:
        """The sandbox refunds at once: a refund it holds has succeeded."""
        if self._down:
            return RefundResult(RefundStatus.UNKNOWN)
        refunds = (
            SandboxRefund.objects.filter(charge_id=payment_reference) if payment_reference else SandboxRefund.objects
        )
        refund = refunds.filter(pk=reference).first() if reference else None
        if refund is None and idempotency_key:
            refund = refunds.filter(idempotency_key=idempotency_key).first()
        if refund is None:
            return RefundResult(RefundStatus.NOT_FOUND)
        return RefundResult(RefundStatus.SUCCEEDED, reference=refund.id)


def _inserted(charge: SandboxCharge) -> bool:
    """Insert a charge row; False when its idempotency key is already taken. Outside a transaction
    (a charge is never made inside one) autocommit survives the error without a savepoint."""
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                charge.save(force_insert=True)
        else:
            charge.save(force_insert=True)
    except IntegrityError:
        return False
    return True
