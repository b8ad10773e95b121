"""Adyen, through the `adyen` SDK's Checkout API: cards the app encrypted with Adyen's Web
components, stored at a zero-value verification (`storePaymentMethod`, `shopperReference`),
first payments on session with 3-D Secure by redirect, renewals merchant-initiated on the stored
card (`storedPaymentMethodId`, `shopperInteraction=ContAuth`, `recurringProcessingModel=Subscription`),
refunds that a notification settles, and HMAC-signed notifications answered `[accepted]`.

Adyen has no call that tells where a payment stands: the answer to `/payments` (and to
`/payments/details` after the redirect) or the AUTHORISATION notification does. Every POST carries
our idempotency key (`Idempotency-Key`); a request that got no answer is sent again under it.
"""

import binascii
import hashlib
import hmac
import json
import logging

import Adyen
import requests
from Adyen.util import generate_notification_sig
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
    RefundResult,
    RefundStatus,
    WebhookNotice,
    WebhookRejected,
)
from payments.gateways.returns import return_url_for

logger = logging.getLogger("payments.adyen")

CHECKOUT_API_VERSION = "v72"
REQUEST_TIMEOUT_SECONDS = 30
TRIES = 3  # the first request and two more under the same Idempotency-Key

# Adyen's refusalReasonCode -> our decline codes (https://docs.adyen.com/development-resources/refusal-reasons).
_REFUSALS = {
    "2": "card_declined",  # Refused
    "3": "card_declined",  # Referral
    "4": "processing_error",  # Acquirer Error
    "5": "lost_card",  # Blocked Card
    "6": "expired_card",  # Expired Card
    "7": "invalid_amount",  # Invalid Amount
    "8": "incorrect_number",  # Invalid Card Number
    "11": "authentication_failed",  # 3D Not Authenticated
    "12": "insufficient_funds",  # Not enough balance
    "14": "fraudulent",  # Acquirer Fraud
    "20": "fraudulent",  # FRAUD
    "24": "incorrect_cvc",  # CVC Declined
    "27": "do_not_honor",  # Do Not Honor
    "38": "authentication_required",  # Authentication required
}
# The same, by the reason's text: what AUTHORISATION notifications carry in `reason`.
_REFUSAL_TEXTS = {
    "refused": "card_declined",
    "blocked card": "lost_card",
    "expired card": "expired_card",
    "not enough balance": "insufficient_funds",
    "3d not authenticated": "authentication_failed",
    "cvc declined": "incorrect_cvc",
    "fraud": "fraudulent",
    "authentication required": "authentication_required",
    "acquirer error": "processing_error",
    "cancelled": "canceled",
}
_BRANDS = {"mc": "mastercard", "visa": "visa", "amex": "amex", "discover": "discover", "jcb": "jcb", "diners": "diners"}
_ACTION_RESULTS = ("RedirectShopper", "ChallengeShopper", "IdentifyShopper")
_OPEN_RESULTS = ("Pending", "Received", "PresentToShopper")


def _decline_code(response: dict) -> str:
    code = str(response.get("refusalReasonCode") or "")
    if code in _REFUSALS:
        return _REFUSALS[code]
    return _REFUSAL_TEXTS.get(str(response.get("refusalReason") or "").strip().lower(), "card_declined")


def _charge_result(response: dict) -> ChargeResult:
    result, reference = response.get("resultCode"), response.get("pspReference", "")
    if result == "Authorised":
        return ChargeResult(ChargeStatus.SUCCEEDED, reference=reference)
    if result in _ACTION_RESULTS:
        action = response.get("action") or {}
        if action.get("type") == "redirect" and action.get("method", "GET") == "GET" and action.get("url"):
            return ChargeResult(ChargeStatus.REQUIRES_ACTION, reference=reference, action_url=action["url"])
        logger.warning("Adyen asked for an action we cannot host (%s) on %s", action.get("type"), reference)
        return ChargeResult(ChargeStatus.FAILED, reference=reference, decline_code="authentication_unsupported")
    if result in ("Refused", "Cancelled", "Error"):
        code = "canceled" if result == "Cancelled" else _decline_code(response)
        if result == "Error":
            code = "processing_error"
        return ChargeResult(
            ChargeStatus.FAILED, reference=reference, decline_code=code, message=str(response.get("refusalReason", ""))
        )
    return ChargeResult(ChargeStatus.UNKNOWN, reference=reference)  # Pending, Received: a notification will say


def _card(response: dict) -> CardDetails:
    """What the verification tells of the card (Adyen's additional data settings: card summary,
    expiry, issuer country, alias)."""
    data = response.get("additionalData") or {}
    month, _, year = str(data.get("expiryDate", "")).partition("/")
    brand = str(data.get("paymentMethod") or (response.get("paymentMethod") or {}).get("brand") or "unknown")
    country = str(data.get("cardIssuingCountry") or "").upper()
    return CardDetails(
        brand=_BRANDS.get(brand.lower(), brand.lower()),
        last4=str(data.get("cardSummary") or "0000")[-4:],
        exp_month=int(month) if month.isdigit() else 1,
        exp_year=int(year) if year.isdigit() else 2000,
        fingerprint=str(data.get("alias") or ""),
        country=country if len(country) == 2 and country.isalpha() else "",
    )


def _stored_id(response: dict) -> str:
    tokenization = response.get("tokenization") or {}
    data = response.get("additionalData") or {}
    return str(tokenization.get("storedPaymentMethodId") or data.get("recurring.recurringDetailReference") or "")


def _verify_item(item: dict, hmac_key: str) -> bool:
    """Adyen's HMAC over the item's fields (the SDK's signer), keyed with the hex HMAC key from its
    Customer Area; anything malformed is simply not verified."""
    signature = str((item.get("additionalData") or {}).get("hmacSignature") or "")
    if not signature or not hmac_key:
        return False
    try:
        expected = generate_notification_sig({**item, "amount": item.get("amount") or {}}, hmac_key).decode()
    except (binascii.Error, TypeError, ValueError, KeyError):
        return False
    return hmac.compare_digest(expected, signature)


class AdyenGateway(Gateway):
    provider = "adyen"
    supports_setup = True
    replays_by_key = True
    webhook_answer = "[accepted]"

    @classmethod
    def credential_names(cls) -> tuple[str, ...]:
        return ("api_key", "merchant_account", "hmac_key", "client_key", "environment", "live_prefix", "api_base")

    @classmethod
    def secret_credential_names(cls) -> tuple[str, ...]:
        return ("api_key", "hmac_key")

    @classmethod
    def default_credentials(cls) -> dict:
        return {"environment": "test"}

    # --- the SDK

    def _checkout(self) -> Adyen.AdyenCheckoutApi:
        live = self.credentials.get("environment") == "live"
        client = Adyen.AdyenClient(
            xapikey=self.credentials.get("api_key", ""),
            platform="live" if live else "test",
            live_endpoint_prefix=self.credentials.get("live_prefix") or None,
            http_timeout=REQUEST_TIMEOUT_SECONDS,
            http_force="requests",
        )
        checkout = Adyen.AdyenCheckoutApi(client=client)
        base = self.credentials.get("api_base")
        if base:  # a test double on loopback, or a regional endpoint
            for api in (checkout.payments_api, checkout.modifications_api, checkout.recurring_api):
                api.baseUrl = f"{base.rstrip('/')}/{CHECKOUT_API_VERSION}"
        return checkout

    def _post(self, call, *args, idempotency_key: str, **kwargs) -> dict:
        """One POST under our Idempotency-Key, sent again (same key) when no answer came back.
        GatewayUnavailable when none ever did (timeouts, connection errors, 5xx); GatewayError
        when Adyen refused the request itself (validation, credentials)."""
        last = None
        for _ in range(TRIES):
            try:
                return call(*args, idempotency_key=idempotency_key, **kwargs).message or {}
            except (requests.ConnectionError, requests.Timeout) as error:
                last = error
            except Adyen.AdyenAPICommunicationError as error:  # 404, 500
                if error.status_code == 404:
                    raise GatewayError("Adyen does not know this request.", code="gateway_refused") from None
                last = error
            except (Adyen.AdyenAPIAuthenticationError, Adyen.AdyenAPIInvalidPermission) as error:
                logger.error("Adyen refused our credentials (%s)", error.status_code)
                raise GatewayError("The gateway refused our credentials.", code="gateway_refused") from None
            except (Adyen.AdyenAPIValidationError, Adyen.AdyenAPIUnprocessableEntity) as error:
                raise GatewayError(_message(error), code="gateway_refused") from None
            except Adyen.AdyenError as error:  # 5xx other than 500, unexpected answers
                status = getattr(error, "status_code", None)
                if status is not None and status < 500 and status != 429:
                    raise GatewayError(_message(error), code="gateway_refused") from None
                last = error
        raise GatewayUnavailable(f"Adyen gave no answer ({type(last).__name__}).")

    def _merchant(self) -> str:
        return self.credentials.get("merchant_account", "")

    # --- the interface

    def client_config(self) -> dict:
        """What Adyen's Web components need in the app to encrypt a card (public values only)."""
        return {
            "client_key": self.credentials.get("client_key", ""),
            "environment": self.credentials.get("environment"),
        }

    def customer_reference(self, *, customer) -> str:
        return customer.id  # Adyen's shopperReference: ours, no call needed

    def attach(self, *, token: str, customer_reference: str = "", currency: str = "") -> AttachResult:
        """`token` is the `paymentMethod` object Adyen's card component gives the app (its
        encrypted fields), as JSON. A zero-value verification stores it for later payments; it is
        not authenticated here (the first payment or a trial's setup does that)."""
        try:
            method = json.loads(token)
        except ValueError:
            method = None
        if not isinstance(method, dict) or method.get("type", "scheme") != "scheme":
            raise GatewayError("The card token is not an Adyen card payment method.", code="invalid_token")
        digest = hashlib.sha256(token.encode()).hexdigest()[:40]
        body = {
            "merchantAccount": self._merchant(),
            "amount": {"value": 0, "currency": currency or "EUR"},
            "reference": f"card-{digest}",
            "paymentMethod": method,
            "shopperReference": customer_reference,
            "storePaymentMethod": True,
            "recurringProcessingModel": "Subscription",
            "shopperInteraction": "Ecommerce",
            "authenticationData": {"attemptAuthentication": "never"},
        }
        response = self._post(self._checkout().payments_api.payments, body, idempotency_key=f"card-{digest}")
        result = _charge_result(response)
        if result.status == ChargeStatus.FAILED:
            raise CardDeclined(result.message or "The card was declined.", code=result.decline_code)
        stored = _stored_id(response)
        if result.status != ChargeStatus.SUCCEEDED or not stored:
            raise GatewayError("Adyen did not store the card.", code="invalid_token")
        return AttachResult(reference=stored, card=_card(response))

    def detach(self, *, reference: str, customer_reference: str = "") -> bool:
        try:
            self._checkout().recurring_api.delete_token_for_stored_payment_details(
                reference,
                query_parameters={"shopperReference": customer_reference, "merchantAccount": self._merchant()},
            )
        except Adyen.AdyenAPICommunicationError as error:
            return error.status_code == 404  # gone already; a 500 is no answer
        except (requests.ConnectionError, requests.Timeout, Adyen.AdyenError) as error:
            logger.warning("Adyen gave no answer deleting %s: %s", reference, type(error).__name__)
            return False
        return True

    def _payment_body(self, request: ChargeRequest) -> dict:
        body = {
            "merchantAccount": self._merchant(),
            "amount": {"value": to_minor_units(request.amount), "currency": request.amount.currency.code},
            "reference": request.idempotency_key,  # the notification's merchantReference: our attempt
            "paymentMethod": {"type": "scheme", "storedPaymentMethodId": request.payment_method_reference},
            "shopperReference": request.customer_reference,
            "recurringProcessingModel": "Subscription",
            "metadata": {key: str(value)[:80] for key, value in list(request.metadata.items())[:20]},
        }
        if request.description:
            body["shopperStatement"] = request.description[:22]
        if request.off_session:
            body["shopperInteraction"] = "ContAuth"  # merchant-initiated, on the stored mandate
        else:
            body["shopperInteraction"] = "Ecommerce"
            body["channel"] = "Web"
            body["authenticationData"] = {"threeDSRequestData": {"nativeThreeDS": "disabled"}}  # a redirect
            body["returnUrl"] = return_url_for(
                account_id=self.account.id, idempotency_key=request.idempotency_key, return_url=request.return_url
            )
        return body

    def charge(self, request: ChargeRequest) -> ChargeResult:
        try:
            response = self._post(
                self._checkout().payments_api.payments,
                self._payment_body(request),
                idempotency_key=request.idempotency_key,
            )
        except GatewayUnavailable as error:
            logger.warning("Adyen gave no answer for %s", request.idempotency_key)
            return ChargeResult(ChargeStatus.UNKNOWN, message=str(error))
        except GatewayError as error:
            logger.warning("Adyen refused charge %s: %s", request.idempotency_key, error)
            return ChargeResult(ChargeStatus.FAILED, decline_code="gateway_refused", message=str(error))
        return _charge_result(response)

    def lookup(self, *, reference: str, idempotency_key: str, customer_reference: str = "") -> ChargeResult:
        """Adyen cannot be asked: the AUTHORISATION notification settles a payment whose answer we
        lost, `/payments/details` one back from 3-D Secure, and reconciliation sends the charge
        again under its key (`replays_by_key`): Adyen answers the first one's result."""
        return ChargeResult(ChargeStatus.UNKNOWN, reference=reference)

    def authentication_complete(self, *, reference: str, idempotency_key: str, params: dict) -> ChargeResult:
        """The cardholder is back from 3-D Secure: Adyen finishes the payment from `redirectResult`."""
        redirect_result = params.get("redirectResult") or params.get("payload")
        if not redirect_result:
            return ChargeResult(ChargeStatus.UNKNOWN, reference=reference)
        key = "redirectResult" if params.get("redirectResult") else "payload"
        digest = hashlib.sha256(str(redirect_result).encode()).hexdigest()[:32]
        try:
            response = self._post(
                self._checkout().payments_api.payments_details,
                {"details": {key: redirect_result}},
                idempotency_key=f"details-{idempotency_key}-{digest}",
            )
        except GatewayUnavailable:
            return ChargeResult(ChargeStatus.UNKNOWN, reference=reference)
        except GatewayError as error:  # a forged or replayed redirectResult
            logger.warning("Adyen refused the details of %s: %s", idempotency_key, error)
            return ChargeResult(ChargeStatus.UNKNOWN, reference=reference)
        return _charge_result(response)

    def setup(
        self,
        *,
        payment_method_reference: str,
        idempotency_key: str,
        customer_reference: str = "",
        return_url: str = "",
        currency: str = "",
    ) -> ChargeResult:
        """A zero-value payment on session on the stored card, authenticated (a trial behind a
        card): the mandate later renewals charge under."""
        request = ChargeRequest(
            amount=Money(0, currency or "EUR"),
            idempotency_key=idempotency_key,
            payment_method_reference=payment_method_reference,
            customer_reference=customer_reference,
            return_url=return_url,
        )
        return self.charge(request)

    def cancel(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        """Call off a payment left at 3-D Secure. Adyen authorises a redirect payment only when we
        send its details, and the return page sends none for a payment no longer waiting."""
        if reference:
            try:
                self._post(
                    self._checkout().modifications_api.cancel_authorised_payment_by_psp_reference,
                    {"merchantAccount": self._merchant(), "reference": f"cancel-{idempotency_key}"},
                    reference,
                    idempotency_key=f"cancel-{idempotency_key}",
                )
            except (GatewayError, GatewayUnavailable) as error:
                logger.info("Adyen cancel of %s: %s", reference, error)
        return ChargeResult(ChargeStatus.FAILED, reference=reference, decline_code="payment_canceled")

    def refund(self, *, reference: str, amount: Money, idempotency_key: str) -> RefundResult:
        body = {
            "merchantAccount": self._merchant(),
            "amount": {"value": to_minor_units(amount), "currency": amount.currency.code},
            "reference": idempotency_key,  # the REFUND notification's merchantReference
        }
        try:
            response = self._post(
                self._checkout().modifications_api.refund_captured_payment,
                body,
                reference,
                idempotency_key=idempotency_key,
            )
        except GatewayUnavailable:
            return RefundResult(RefundStatus.UNKNOWN)
        except GatewayError as error:
            return RefundResult(RefundStatus.FAILED, message=str(error))
        return RefundResult(RefundStatus.PENDING, reference=response.get("pspReference", ""))  # "received"

    def parse_webhook(self, *, body: bytes, headers: dict) -> WebhookNotice:
        try:
            event = json.loads(body)
            items = [entry["NotificationRequestItem"] for entry in event["notificationItems"]]
        except (ValueError, KeyError, TypeError):
            raise WebhookRejected("Not an Adyen notification.") from None
        if len(items) != 1 or not isinstance(items[0], dict):
            raise WebhookRejected("An Adyen notification carries one item.")
        item = items[0]
        if not _verify_item(item, self.credentials.get("hmac_key", "")):
            raise WebhookRejected("The HMAC signature does not match.")
        return _notice(item, event)


def _message(error) -> str:
    message = getattr(error, "message", None)
    if isinstance(message, dict):
        return str(message.get("message") or message.get("errorCode") or "Adyen refused the request.")[:200]
    return "Adyen refused the request."


def _notice(item: dict, event: dict) -> WebhookNotice:
    """An AUTHORISATION moves the payment of our attempt (merchantReference); REFUND and
    REFUND_FAILED end a refund; CHARGEBACK takes money back from a payment."""
    code, success = item.get("eventCode", ""), str(item.get("success", "")).lower() == "true"
    psp, original = item.get("pspReference", ""), item.get("originalReference", "")
    merchant_reference = item.get("merchantReference", "")
    amount = item.get("amount") or {}
    notice = {"event_id": f"{code}:{psp}:{'true' if success else 'false'}", "type": code, "raw": event}
    if code == "AUTHORISATION":
        if success:
            charge = ChargeResult(ChargeStatus.SUCCEEDED, reference=psp)
        else:
            reason = str(item.get("reason") or "")
            code_ = _REFUSAL_TEXTS.get(reason.split(":")[0].strip().lower(), "card_declined")
            charge = ChargeResult(ChargeStatus.FAILED, reference=psp, decline_code=code_, message=reason[:255])
        return WebhookNotice(**notice, charge=charge, charge_key=merchant_reference)
    if code in ("REFUND", "REFUND_FAILED"):
        status = RefundStatus.SUCCEEDED if code == "REFUND" and success else RefundStatus.FAILED
        message = "" if status == RefundStatus.SUCCEEDED else str(item.get("reason") or "refund_failed")[:255]
        refund = RefundResult(status, reference=psp, message=message)
        return WebhookNotice(**notice, refund=refund, refund_key=merchant_reference)
    if code == "CHARGEBACK" and amount.get("currency"):
        taken = from_minor_units(int(amount.get("value") or 0), str(amount["currency"]).upper())
        return WebhookNotice(**notice, chargeback=(original, psp, taken))
    return WebhookNotice(**notice)
