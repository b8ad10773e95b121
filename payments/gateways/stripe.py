"""Stripe, through the `stripe` SDK: PaymentMethods attached to Stripe customers, PaymentIntents
confirmed at creation, mandates for merchant-initiated renewals, refunds, signed webhooks.

The first on-session payment sets the card up for later use (`setup_future_usage=off_session`),
so renewals go as merchant-initiated transactions (`off_session=true`) outside SCA's scope. Every
POST carries our idempotency key; the API version is pinned.
"""

import json
import logging
from datetime import UTC, datetime

import stripe
from moneyed import Money

from payments.currency import from_minor_units, to_minor_units
from payments.gateways.base import (
    AttachResult,
    CardDeclined,
    CardDetails,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Gateway,
    GatewayError,
    GatewayUnavailable,
    PayoutNotice,
    RefundResult,
    RefundStatus,
    WebhookNotice,
    WebhookRejected,
)

logger = logging.getLogger("payments.stripe")

STRIPE_API_VERSION = "2026-08-26.dahlia"
WEBHOOK_TOLERANCE_SECONDS = 300
REQUEST_TIMEOUT_SECONDS = 30

# Answers that say nothing about the charge's fate: ask again later, never charge again blindly.
_NO_ANSWER = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


def _plain(obj) -> dict:
    """SDK objects as plain dicts (a StripeObject is not a dict)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj or {})


def _country(value: object) -> str:
    """Stripe's `card.country` (ISO alpha-2), or "" when it says nothing usable."""
    text = value.strip().upper() if isinstance(value, str) else ""
    return text if len(text) == 2 and text.isascii() and text.isalpha() else ""


def _decline_code(error: dict | None) -> str:
    error = error or {}
    return error.get("decline_code") or error.get("code") or "card_declined"


def _charge_result(intent) -> ChargeResult:
    intent = _plain(intent)
    status = intent.get("status")
    reference = intent.get("id", "")
    if status == "succeeded":
        return ChargeResult(ChargeStatus.SUCCEEDED, reference=reference)
    if status == "requires_action":
        action = intent.get("next_action") or {}
        url = (action.get("redirect_to_url") or {}).get("url", "")
        return ChargeResult(ChargeStatus.REQUIRES_ACTION, reference=reference, action_url=url)
    if status in ("requires_payment_method", "canceled"):
        error = intent.get("last_payment_error") or {}
        code = "canceled" if status == "canceled" and not error else _decline_code(error)
        if error.get("code") == "payment_intent_authentication_failure":
            code = "authentication_failed"
        return ChargeResult(
            ChargeStatus.FAILED, reference=reference, decline_code=code, message=error.get("message", "")
        )
    return ChargeResult(ChargeStatus.UNKNOWN, reference=reference)  # processing, requires_confirmation


_PAYMENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "payment_intent.canceled",
    "payment_intent.processing",
    "charge.succeeded",
    "charge.failed",
)
_REFUND_STATUSES = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}
REFUND_KEY_METADATA = "refund_id"  # our refund's id (its idempotency key), kept by Stripe with the refund


def _refund_result(refund) -> RefundResult:
    refund = _plain(refund)
    status = _REFUND_STATUSES.get(refund.get("status"), RefundStatus.PENDING)
    message = (refund.get("failure_reason") or "refund_failed") if status == RefundStatus.FAILED else ""
    return RefundResult(status, reference=refund.get("id", ""), message=message)


def _refund_key(refund) -> str:
    return str((_plain(refund).get("metadata") or {}).get(REFUND_KEY_METADATA) or "")


def _notice(event: dict) -> WebhookNotice:
    """What a Stripe event means for us: a PaymentIntent (or its charge) moved, a refund ended, a
    payout was paid."""
    obj = (event.get("data") or {}).get("object") or {}
    kind, type_ = obj.get("object"), event.get("type", "")
    payment_reference, refund, refund_key, payout = "", None, "", None
    if type_ in _PAYMENT_EVENTS:
        payment_reference = obj.get("id", "") if kind == "payment_intent" else obj.get("payment_intent") or ""
    elif kind == "refund":  # refund.created/updated/failed, charge.refund.updated
        refund, refund_key = _refund_result(obj), _refund_key(obj)
    elif type_ == "payout.paid":
        currency = str(obj.get("currency", "")).upper()
        payout = PayoutNotice(
            reference=obj.get("id", ""),
            amount=from_minor_units(int(obj.get("amount", 0)), currency),
            arrival_date=datetime.fromtimestamp(int(obj.get("arrival_date") or 0), tz=UTC).date(),
        )
    return WebhookNotice(
        event_id=event.get("id", ""),
        type=type_,
        payment_reference=payment_reference,
        refund=refund,
        refund_key=refund_key,
        payout=payout,
        raw=event,
    )


class StripeGateway(Gateway):
    provider = "stripe"
    supports_fees = True
    supports_payouts = True
    supports_setup = True
    supports_refund_lookup = True

    @classmethod
    def credential_names(cls) -> tuple[str, ...]:
        return ("secret_key", "publishable_key", "webhook_secret", "api_base")

    @classmethod
    def secret_credential_names(cls) -> tuple[str, ...]:
        return ("secret_key", "webhook_secret")

    def _client(self) -> stripe.StripeClient:
        options = {
            "stripe_version": STRIPE_API_VERSION,
            "max_network_retries": 2,  # safe: every POST carries an idempotency key
            "http_client": stripe.RequestsClient(timeout=REQUEST_TIMEOUT_SECONDS),
        }
        if self.credentials.get("api_base"):
            options["base_addresses"] = {"api": self.credentials["api_base"]}
        return stripe.StripeClient(self.credentials.get("secret_key", ""), **options)

    def client_config(self) -> dict:
        return {"publishable_key": self.credentials.get("publishable_key", "")}

    def customer_reference(self, *, customer) -> str:
        try:
            created = self._client().v1.customers.create(
                params={"email": customer.email, "name": customer.name or None, "metadata": {"customer": customer.id}},
                options={"idempotency_key": f"customer-{customer.id}"},
            )
        except _NO_ANSWER as error:
            raise GatewayUnavailable(f"Stripe gave no answer ({type(error).__name__}).") from None
        return created.id

    def attach(self, *, token: str, customer_reference: str = "", currency: str = "") -> AttachResult:
        try:
            method = self._client().v1.payment_methods.attach(token, params={"customer": customer_reference})
        except stripe.CardError as error:
            body = (error.json_body or {}).get("error")
            raise CardDeclined(error.user_message or "The card was declined.", code=_decline_code(body)) from None
        except stripe.InvalidRequestError as error:
            raise GatewayError(error.user_message or "The card token was refused.", code="invalid_token") from None
        except _NO_ANSWER as error:
            raise GatewayUnavailable(f"Stripe gave no answer ({type(error).__name__}).") from None
        card = _plain(method).get("card") or {}
        details = CardDetails(
            brand=card.get("brand", "unknown"),
            last4=card.get("last4", "0000"),
            exp_month=int(card.get("exp_month") or 1),
            exp_year=int(card.get("exp_year") or 2000),
            fingerprint=card.get("fingerprint", "") or "",
            country=_country(card.get("country")),
        )
        return AttachResult(reference=method.id, card=details)

    def detach(self, *, reference: str, customer_reference: str = "") -> bool:
        try:
            self._client().v1.payment_methods.detach(reference)
        except stripe.InvalidRequestError:  # not attached any more, or unknown: nothing kept for us
            return True
        except _NO_ANSWER as error:
            logger.warning("Stripe gave no answer detaching %s: %s", reference, type(error).__name__)
            return False
        return True

    def customer_forget(self, *, customer_reference: str) -> bool:
        try:
            self._client().v1.customers.delete(customer_reference)
        except stripe.InvalidRequestError:  # deleted already
            return True
        except _NO_ANSWER as error:
            logger.warning("Stripe gave no answer deleting %s: %s", customer_reference, type(error).__name__)
            return False
        return True

    def charge(self, request: ChargeRequest) -> ChargeResult:
        params = {
            "amount": to_minor_units(request.amount),
            "currency": request.amount.currency.code.lower(),
            "payment_method": request.payment_method_reference,
            "confirm": True,
            "description": request.description or None,
            "metadata": {**request.metadata, "idempotency_key": request.idempotency_key},
        }
        if request.customer_reference:
            params["customer"] = request.customer_reference
        if request.off_session:
            params["off_session"] = True  # a merchant-initiated transaction on the stored mandate
        else:
            params["setup_future_usage"] = "off_session"  # authenticate once, renew without the customer
            if request.return_url:
                params["return_url"] = request.return_url
        params = {key: value for key, value in params.items() if value is not None}
        try:
            intent = self._client().v1.payment_intents.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as error:
            body = (error.json_body or {}).get("error") or {}
            intent = body.get("payment_intent") or {}
            code = _decline_code(body)
            return ChargeResult(
                ChargeStatus.FAILED, reference=intent.get("id", ""), decline_code=code, message=error.user_message or ""
            )
        except stripe.InvalidRequestError as error:  # refused before any charge was made
            logger.warning("Stripe refused charge %s: %s", request.idempotency_key, error.code or "invalid_request")
            return ChargeResult(ChargeStatus.FAILED, decline_code="gateway_refused", message=error.user_message or "")
        except _NO_ANSWER as error:
            logger.warning("Stripe gave no answer for %s: %s", request.idempotency_key, type(error).__name__)
            return ChargeResult(ChargeStatus.UNKNOWN, message=type(error).__name__)
        return _charge_result(intent)

    def lookup(self, *, reference: str, idempotency_key: str, customer_reference: str = "") -> ChargeResult:
        client = self._client()
        if reference:
            return _charge_result(client.v1.payment_intents.retrieve(reference))
        if customer_reference:
            # The create timed out before we learned the id: find it by the key we put in its metadata.
            for intent in client.v1.payment_intents.list(params={"customer": customer_reference, "limit": 100}).data:
                if (_plain(intent).get("metadata") or {}).get("idempotency_key") == idempotency_key:
                    return _charge_result(intent)
        return ChargeResult(
            ChargeStatus.FAILED, decline_code="processing_error", message="The charge never reached Stripe."
        )

    def setup(
        self,
        *,
        payment_method_reference: str,
        idempotency_key: str,
        customer_reference: str = "",
        return_url: str = "",
        currency: str = "",
    ) -> ChargeResult:
        """A SetupIntent confirmed at once for off-session use (a trial behind a card)."""
        params = {"payment_method": payment_method_reference, "confirm": True, "usage": "off_session"}
        if customer_reference:
            params["customer"] = customer_reference
        if return_url:
            params["return_url"] = return_url
        try:
            intent = _plain(
                self._client().v1.setup_intents.create(params=params, options={"idempotency_key": idempotency_key})
            )
        except stripe.CardError as error:
            body = (error.json_body or {}).get("error") or {}
            return ChargeResult(ChargeStatus.FAILED, decline_code=_decline_code(body), message=error.user_message or "")
        except _NO_ANSWER:
            return ChargeResult(ChargeStatus.UNKNOWN)
        status = intent.get("status")
        if status == "succeeded":
            return ChargeResult(ChargeStatus.SUCCEEDED, reference=intent.get("id", ""))
        if status == "requires_action":
            url = ((intent.get("next_action") or {}).get("redirect_to_url") or {}).get("url", "")
            return ChargeResult(ChargeStatus.REQUIRES_ACTION, reference=intent.get("id", ""), action_url=url)
        if status in ("requires_payment_method", "canceled"):
            error = intent.get("last_setup_error") or {}
            return ChargeResult(ChargeStatus.FAILED, reference=intent.get("id", ""), decline_code=_decline_code(error))
        return ChargeResult(ChargeStatus.UNKNOWN, reference=intent.get("id", ""))

    def cancel(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        """Cancel a PaymentIntent still waiting for 3-D Secure, so a late approval cannot capture it."""
        if not reference:
            return self.lookup(reference=reference, idempotency_key=idempotency_key)
        client = self._client()
        try:
            intent = client.v1.payment_intents.cancel(
                reference, options={"idempotency_key": f"cancel-{idempotency_key}"}
            )
        except stripe.InvalidRequestError:  # no longer cancelable: it succeeded or failed meanwhile
            intent = client.v1.payment_intents.retrieve(reference)
        return _charge_result(intent)

    def refund(self, *, reference: str, amount: Money, idempotency_key: str) -> RefundResult:
        params = {
            "payment_intent": reference,
            "amount": to_minor_units(amount),
            "metadata": {REFUND_KEY_METADATA: idempotency_key},  # how refund_lookup finds it if the answer is lost
        }
        try:
            refund = self._client().v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as error:
            return RefundResult(RefundStatus.FAILED, message=error.user_message or str(error))
        except _NO_ANSWER as error:
            logger.warning("Stripe gave no answer for refund %s: %s", idempotency_key, type(error).__name__)
            return RefundResult(RefundStatus.UNKNOWN)
        return _refund_result(refund)

    def refund_lookup(self, *, reference: str, payment_reference: str, idempotency_key: str) -> RefundResult:
        """By the refund's id, else among the PaymentIntent's refunds by `metadata[refund_id]`.
        NOT_FOUND only when every refund of the PaymentIntent is accounted for: one without our
        metadata (made by hand, or before refunds carried it) might be ours, so that is UNKNOWN."""
        client = self._client()
        try:
            if reference:
                return _refund_result(client.v1.refunds.retrieve(reference))
            if not payment_reference:
                return RefundResult(RefundStatus.UNKNOWN)
            listing = client.v1.refunds.list(params={"payment_intent": payment_reference, "limit": 100})
            unattributed = False
            for refund in listing.auto_paging_iter():
                key = _refund_key(refund)
                if key == idempotency_key:
                    return _refund_result(refund)
                unattributed = unattributed or not key
        except stripe.StripeError as error:
            logger.warning("Stripe could not say where refund %s stands: %s", idempotency_key, type(error).__name__)
            return RefundResult(RefundStatus.UNKNOWN)
        if unattributed:
            logger.warning(
                "Refund %s: a refund without our metadata is on %s; not sent again", idempotency_key, payment_reference
            )
            return RefundResult(RefundStatus.UNKNOWN)
        return RefundResult(RefundStatus.NOT_FOUND)

    def parse_webhook(self, *, body: bytes, headers: dict) -> WebhookNotice:
        try:
            stripe.WebhookSignature.verify_header(
                body, headers.get("Stripe-Signature"), self.credentials.get("webhook_secret"), WEBHOOK_TOLERANCE_SECONDS
            )
            event = json.loads(body)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise WebhookRejected(str(error).split("\n")[0]) from None
        return _notice(event)

    def webhook_record(self, notice: WebhookNotice) -> None:
        """dj-stripe keeps its own mirror of Stripe's objects from the same event (never our key)."""
        from payments.gateways.stripe_mirror import mirror_event

        mirror_event(data=notice.raw, api_key=self.credentials.get("secret_key", ""))

    def balance_for(self, *, reference: str) -> tuple[Money, Money] | None:
        """(fee, net) of a captured payment, from its charge's balance transaction."""
        intent = self._client().v1.payment_intents.retrieve(
            reference, params={"expand": ["latest_charge.balance_transaction"]}
        )
        charge = _plain(intent).get("latest_charge") or {}
        transaction = charge.get("balance_transaction") if isinstance(charge, dict) else None
        if not isinstance(transaction, dict):
            return None
        currency = transaction["currency"].upper()
        return from_minor_units(transaction["fee"], currency), from_minor_units(transaction["net"], currency)

    def payout_payment_references(self, *, payout_reference: str) -> list[str]:
        """The PaymentIntents whose charges a payout settled (its balance transactions)."""
        listing = self._client().v1.balance_transactions.list(
            params={"payout": payout_reference, "type": "charge", "limit": 100, "expand": ["data.source"]}
        )
        references = []
        for row in listing.auto_paging_iter():
            source = _plain(row).get("source")
            if isinstance(source, dict) and source.get("payment_intent"):
                references.append(source["payment_intent"])
        return references
