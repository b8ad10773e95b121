"""An Adyen-shaped server on loopback for tests: the Checkout API endpoints we call, answered as
Adyen documents them, with its test cards' behaviours and HMAC-signed notifications.

- `POST /v72/payments`: a zero-value payment with `storePaymentMethod` stores the card (its
  `storedPaymentMethodId` in `additionalData` and `tokenization`); payments on a stored card check
  the `shopperReference`; on session (`Ecommerce`) a 3-D Secure card answers `RedirectShopper`
  with our hosted challenge page; off session (`ContAuth`) charges under the stored mandate.
- `POST /v72/payments/details`: the `redirectResult` the challenge page put on the return URL.
- `POST /v72/payments/{psp}/refunds` (`received`; a REFUND notification settles it when the test
  says) and `/cancels`; `DELETE /v72/storedPaymentMethods/{id}`.
- `Idempotency-Key` on every POST: the first answer replayed. `x-api-key` checked.
- Every authorisation and refund outcome becomes a notification, signed with the HMAC key by the
  SDK's own signing code (Adyen's side), queued for the test to deliver (`notifications_take`).

Cards: the app encrypts the card with Adyen's Web components; `encrypt` stands in for them here
(the number stays in the double: the encrypted fields are opaque references). Behaviours:
Adyen's test cards succeed; 4917 6100 0000 0000 asks for 3-D Secure on its first payment on
session; the holder name picks a refusal as in Adyen's test environment (DECLINED, CARD_EXPIRED,
BLOCK_CARD, and NOT_ENOUGH_BALANCE, which a zero-value verification passes). Two cards are this
double's own, for behaviours Adyen's test cards have no number for: 4000 0027 6000 3184 asks for
3-D Secure on every payment on session and is refused off session (Authentication required).
Faults: `fail_next` (a status code to answer, or "drop" for no answer) and `lose_answers`
(processed, answer lost).
"""

import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from Adyen.util import generate_notification_sig

API_KEY = "AQE_test_double_api_key"
MERCHANT_ACCOUNT = "MediaManagerTestECOM"
HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
CLIENT_KEY = "test_DOUBLECLIENTKEY000000000000"
VERSION = "v72"

OK_CARDS = {
    "4111111145551142": ("visa", "NL"),
    "5555341244441115": ("mc", "NL"),
    "4988438843884305": ("visa", "ES"),
}
CHALLENGE_FIRST = {"4917610000000000": ("visa", "NL")}  # Adyen's 3-D Secure 2 challenge card
CHALLENGE_ALWAYS = {"4000002760003184": ("visa", "DE")}  # this double's own
REFUSALS = {  # holder name -> (refusalReasonCode, refusalReason, refused at zero value too)
    "DECLINED": ("2", "Refused", True),
    "CARD_EXPIRED": ("6", "Expired Card", True),
    "BLOCK_CARD": ("5", "Blocked Card", True),
    "NOT_ENOUGH_BALANCE": ("12", "Not enough balance", False),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _error(status: int, code: str, message: str, kind: str = "validation") -> tuple[int, dict]:
    return status, {"status": status, "errorCode": code, "message": message, "errorType": kind}


class AdyenDouble:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.RLock()
        self._server = None
        self.reset()

    # --- lifecycle

    def start(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                double.handle(self, "GET")

            def do_POST(self):
                double.handle(self, "POST")

            def do_DELETE(self):
                double.handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def reset(self):
        with self.lock:
            self.cards: dict[str, dict] = {}  # encrypted number reference -> the card
            self.stored: dict[str, dict] = {}  # storedPaymentMethodId -> card, shopperReference, mandate
            self.payments: dict[str, dict] = {}  # pspReference -> payment
            self.redirects: dict[str, str] = {}  # redirectResult -> pspReference
            self.refunds: dict[str, dict] = {}  # refund pspReference -> refund
            self.idempotent: dict[str, tuple[int, bytes]] = {}
            self.requests: list[tuple[str, str, dict]] = []  # what our code sent: (method, path, body)
            self.notifications: list[dict] = []
            self.fail_next: list[int | str] = []
            self.lose_answers: dict[str, int] = {}
            self.down = False  # an outage: every API call dropped

    # --- what the app and the cardholder do

    def encrypt(self, number: str, *, holder: str = "J. Smith", exp_month: int = 3, exp_year: int = 2030) -> str:
        """Adyen's card component in the app: the `paymentMethod` object with encrypted fields, as
        the JSON string the app sends us."""
        reference = secrets.token_hex(12)
        with self.lock:
            self.cards[reference] = {"number": number, "exp_month": exp_month, "exp_year": exp_year, "holder": holder}
        method = {
            "type": "scheme",
            "encryptedCardNumber": f"adyenjs_0_1_25$double.{reference}.number",
            "encryptedExpiryMonth": f"adyenjs_0_1_25$double.{reference}.month",
            "encryptedExpiryYear": f"adyenjs_0_1_25$double.{reference}.year",
            "encryptedSecurityCode": f"adyenjs_0_1_25$double.{reference}.cvc",
            "holderName": holder,
        }
        return json.dumps(method)

    def challenge(self, url: str, *, approve: bool = True) -> str:
        """The cardholder on the bank's page: returns where the page sends them (our return URL)."""
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
        data = urlencode({"action": "approve" if approve else "fail"}).encode()
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(urllib.request.Request(url, data=data, method="POST"), timeout=10)
        except urllib.error.HTTPError as error:
            if error.code != 302:
                raise
            return error.headers["Location"]
        raise AssertionError("the challenge page did not redirect")

    def notifications_take(self) -> list[bytes]:
        with self.lock:
            taken, self.notifications = self.notifications, []
        return [json.dumps(n).encode() for n in taken]

    def refunds_settle(self, *, success: bool = True) -> None:
        """The bank ends every refund still `received`: a REFUND notification each."""
        with self.lock:
            for psp, refund in self.refunds.items():
                if refund["status"] == "received":
                    refund["status"] = "refunded" if success else "failed"
                    payment = self.payments[refund["payment"]]
                    if not success:
                        payment["refunded"] -= refund["value"]
                    self._notify(
                        "REFUND",
                        psp,
                        success,
                        refund["reference"],
                        refund["value"],
                        payment["currency"],
                        original=refund["payment"],
                        reason="" if success else "Refund failed at the issuer",
                    )

    def chargeback(self, payment_psp: str, value: int) -> None:
        with self.lock:
            payment = self.payments[payment_psp]
            self._notify(
                "CHARGEBACK",
                _psp(),
                True,
                payment["reference"],
                value,
                payment["currency"],
                original=payment_psp,
                reason="Fraud",
            )

    def sent(self, path_suffix: str) -> list[dict]:
        return [body for method, path, body in self.requests if method == "POST" and path.endswith(path_suffix)]

    # --- notifications (Adyen's side)

    def _notify(self, code, psp, success, reference, value, currency, *, original="", reason=""):
        item = {
            "amount": {"currency": currency, "value": value},
            "eventCode": code,
            "eventDate": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "merchantAccountCode": MERCHANT_ACCOUNT,
            "merchantReference": reference,
            "originalReference": original,
            "pspReference": psp,
            "reason": reason,
            "success": "true" if success else "false",
        }
        if not original:
            item.pop("originalReference")
        item["additionalData"] = {"hmacSignature": generate_notification_sig(item, HMAC_KEY).decode()}
        self.notifications.append({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]})

    # --- the server

    def _send(self, handler, status: int, body: bytes, content_type="application/json", headers=None):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def handle(self, handler, method: str):
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if split.path.startswith("/threeds2/challenge/"):
            return self._challenge_page(handler, method, split.path.rsplit("/", 1)[1], raw)
        try:
            body = json.loads(raw) if raw and method == "POST" else {}
        except ValueError:
            return self._answer(handler, *_error(400, "702", "Structure of request is invalid"))
        with self.lock:
            self.requests.append((method, split.path, body))
            fault = self.fail_next.pop(0) if self.fail_next else None
            if self.down:
                fault = "drop"
        if fault == "drop":
            handler.close_connection = True
            return  # no answer at all: the client sees the connection closed
        if isinstance(fault, int):
            return self._answer(handler, *_error(fault, "000", "Internal error", "internal"))
        if handler.headers.get("x-api-key") != API_KEY:
            return self._answer(handler, *_error(401, "000", "HTTP Status Response - Unauthorized", "security"))
        key = handler.headers.get("Idempotency-Key")
        if method == "POST" and key:
            with self.lock:
                if key in self.idempotent:
                    status, content = self.idempotent[key]
                    return self._send(handler, status, content, headers={"Idempotent-Replayed": "true"})
        with self.lock:
            status, answer = self._route(method, split, body)
            content = json.dumps(answer).encode()
            if method == "POST" and key and status < 500:
                self.idempotent[key] = (status, content)
            lose = self.lose_answers.get(split.path, 0) > 0 and method == "POST"
            if lose:
                self.lose_answers[split.path] -= 1
        if lose:
            handler.close_connection = True
            return
        self._send(handler, status, content)

    def _answer(self, handler, status: int, body: dict):
        self._send(handler, status, json.dumps(body).encode())

    def _route(self, method: str, split, body: dict) -> tuple[int, dict]:
        path = split.path
        prefix = f"/{VERSION}"
        if not path.startswith(prefix):
            return _error(404, "000", "Not found", "internal")
        path = path[len(prefix) :]
        if method == "POST" and path == "/payments":
            return self._payments(body)
        if method == "POST" and path == "/payments/details":
            return self._details(body)
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "payments" and parts[2] == "refunds":
            return self._refund(parts[1], body)
        if method == "POST" and len(parts) == 3 and parts[0] == "payments" and parts[2] == "cancels":
            return self._cancel(parts[1], body)
        if method == "DELETE" and len(parts) == 2 and parts[0] == "storedPaymentMethods":
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            stored = self.stored.get(parts[1])
            if stored is None or stored["shopper"] != query.get("shopperReference"):
                return _error(422, "800", "Contract not found")
            del self.stored[parts[1]]
            return 204, {}
        return _error(404, "000", "Not found", "internal")

    def _card_of(self, method: dict) -> dict | None:
        value = str(method.get("encryptedCardNumber", ""))
        reference = value.split("$double.", 1)[-1].split(".")[0] if "$double." in value else ""
        return self.cards.get(reference)

    def _payments(self, body: dict) -> tuple[int, dict]:
        if body.get("merchantAccount") != MERCHANT_ACCOUNT:
            return _error(403, "901", "Invalid Merchant Account", "security")
        amount = body.get("amount") or {}
        value, currency = amount.get("value"), amount.get("currency")
        if not isinstance(value, int) or value < 0 or not currency or not body.get("reference"):
            return _error(422, "137", "Invalid amount specified")
        method = body.get("paymentMethod") or {}
        shopper = body.get("shopperReference", "")
        stored_id = method.get("storedPaymentMethodId")
        if stored_id:
            stored = self.stored.get(stored_id)
            if stored is None or stored["shopper"] != shopper:
                return _error(422, "800", "Contract not found")
            card, holder = stored["card"], stored["card"]["holder"]
        else:
            card = self._card_of(method)
            if card is None:
                return _error(422, "174", "Unable to decrypt data")
            holder = method.get("holderName") or card["holder"]
            stored = None
        number = card["number"]
        psp = _psp()
        payment = {
            "psp": psp,
            "reference": body["reference"],
            "value": value,
            "currency": currency,
            "status": "authorised",
            "refunded": 0,
            "stored": stored_id,
            "return_url": body.get("returnUrl", ""),
        }
        answer = {"pspReference": psp, "merchantReference": body["reference"], "amount": amount}
        refusal = REFUSALS.get(str(holder).upper())
        expired = (card["exp_year"], card["exp_month"]) < tuple(time.gmtime()[:2])
        on_session = body.get("shopperInteraction", "Ecommerce") == "Ecommerce"
        challenge_always = number in CHALLENGE_ALWAYS
        needs_challenge = (
            on_session
            and value > 0
            and (challenge_always or (number in CHALLENGE_FIRST and not (stored and stored["mandate"])))
        )
        if on_session and value == 0 and stored and (challenge_always or number in CHALLENGE_FIRST):
            needs_challenge = not stored["mandate"]  # a card setup authenticates once
        if (body.get("authenticationData") or {}).get("attemptAuthentication") == "never":
            needs_challenge = False
        if refusal and (refusal[2] or value > 0):
            code, reason, _ = refusal
            payment["status"] = "refused"
            answer.update(resultCode="Refused", refusalReason=reason, refusalReasonCode=code)
        elif expired:
            payment["status"] = "refused"
            answer.update(resultCode="Refused", refusalReason="Expired Card", refusalReasonCode="6")
        elif not on_session and challenge_always:
            payment["status"] = "refused"
            answer.update(resultCode="Refused", refusalReason="Authentication required", refusalReasonCode="38")
        elif needs_challenge:
            if not body.get("returnUrl"):
                return _error(422, "14_030", "Return URL is missing.")
            payment["status"] = "challenge"
            answer.update(
                resultCode="RedirectShopper",
                action={
                    "paymentMethodType": "scheme",
                    "url": f"{self.url}/threeds2/challenge/{psp}",
                    "method": "GET",
                    "type": "redirect",
                },
            )
        else:
            answer["resultCode"] = "Authorised"
            if stored:
                stored["mandate"] = stored["mandate"] or on_session
        self.payments[psp] = payment
        if answer["resultCode"] == "Authorised":
            answer["additionalData"] = self._card_data(number, card)
            if body.get("storePaymentMethod") and not stored_id:
                new_id = "".join(secrets.choice("0123456789") for _ in range(16))
                self.stored[new_id] = {"card": card, "shopper": shopper, "mandate": False}
                answer["additionalData"].update(
                    {"recurring.recurringDetailReference": new_id, "recurring.shopperReference": shopper}
                )
                answer["tokenization"] = {
                    "storedPaymentMethodId": new_id,
                    "shopperReference": shopper,
                    "store.operationType": "created",
                }
        if answer["resultCode"] in ("Authorised", "Refused"):
            self._notify(
                "AUTHORISATION",
                psp,
                answer["resultCode"] == "Authorised",
                body["reference"],
                value,
                currency,
                reason=answer.get("refusalReason", ""),
            )
        return 200, answer

    def _card_data(self, number: str, card: dict) -> dict:
        brand, country = (OK_CARDS | CHALLENGE_FIRST | CHALLENGE_ALWAYS).get(number, ("visa", "NL"))
        return {
            "cardSummary": number[-4:],
            "expiryDate": f"{card['exp_month']}/{card['exp_year']}",
            "paymentMethod": brand,
            "cardIssuingCountry": country,
            "alias": "A" + str(abs(hash(number)) % 10**15).rjust(15, "0"),
        }

    def _challenge_page(self, handler, method: str, psp: str, raw: bytes):
        with self.lock:
            payment = self.payments.get(psp)
        if payment is None:
            return self._send(handler, 404, b"no such challenge", "text/plain")
        if method == "GET":
            page = (
                '<form method="post"><button name="action" value="approve">Approve</button>'
                '<button name="action" value="fail">Fail</button></form>'
            )
            return self._send(handler, 200, page.encode(), "text/html")
        action = parse_qs(raw.decode()).get("action", [""])[-1]
        redirect_result = "Ab02b4c0!" + secrets.token_urlsafe(24)
        with self.lock:
            self.redirects[redirect_result] = psp
            payment["answer"] = "approve" if action == "approve" else "fail"
        target = payment["return_url"]
        target += ("&" if "?" in target else "?") + urlencode({"redirectResult": redirect_result})
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _details(self, body: dict) -> tuple[int, dict]:
        redirect_result = (body.get("details") or {}).get("redirectResult")
        psp = self.redirects.get(redirect_result or "")
        if psp is None:
            return _error(422, "101", "Invalid redirect result")
        payment = self.payments[psp]
        answer = {"pspReference": psp, "merchantReference": payment["reference"]}
        if payment["status"] == "challenge":
            if payment.get("canceled"):
                payment["status"] = "cancelled"
            elif payment.get("answer") == "approve":
                payment["status"] = "authorised"
                stored = self.stored.get(payment["stored"] or "")
                if stored:
                    stored["mandate"] = True
            else:
                payment["status"] = "refused"
            success = payment["status"] == "authorised"
            reason = "" if success else ("Cancelled" if payment["status"] == "cancelled" else "3D Not Authenticated")
            self._notify(
                "AUTHORISATION",
                psp,
                success,
                payment["reference"],
                payment["value"],
                payment["currency"],
                reason=reason,
            )
        if payment["status"] == "authorised":
            answer["resultCode"] = "Authorised"
        elif payment["status"] == "cancelled":
            answer["resultCode"] = "Cancelled"
        else:
            answer.update(resultCode="Refused", refusalReason="3D Not Authenticated", refusalReasonCode="11")
        return 200, answer

    def _refund(self, psp: str, body: dict) -> tuple[int, dict]:
        payment = self.payments.get(psp)
        if payment is None or payment["status"] != "authorised":
            return _error(422, "167", "Original pspReference required for this operation")
        value = (body.get("amount") or {}).get("value")
        if not isinstance(value, int) or value <= 0 or payment["refunded"] + value > payment["value"]:
            return _error(422, "137", "Invalid amount specified")
        payment["refunded"] += value
        refund_psp = _psp()
        reference = body.get("reference", "")
        self.refunds[refund_psp] = {"payment": psp, "value": value, "reference": reference, "status": "received"}
        return 201, {
            "merchantAccount": MERCHANT_ACCOUNT,
            "paymentPspReference": psp,
            "pspReference": refund_psp,
            "reference": reference,
            "status": "received",
            "amount": body.get("amount"),
        }

    def _cancel(self, psp: str, body: dict) -> tuple[int, dict]:
        payment = self.payments.get(psp)
        if payment is None:
            return _error(422, "167", "Original pspReference required for this operation")
        if payment["status"] == "challenge":
            payment["canceled"] = True
        return 201, {
            "merchantAccount": MERCHANT_ACCOUNT,
            "paymentPspReference": psp,
            "pspReference": _psp(),
            "reference": body.get("reference", ""),
            "status": "received",
        }


def _psp() -> str:
    return "".join(secrets.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(16))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
