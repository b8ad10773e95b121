"""A Stripe-compatible server on loopback for tests: localstripe (PyPI) behind a small proxy.

localstripe serves customers, card PaymentMethods, PaymentIntents (confirm, off_session, the
3-D Secure cards), refunds. The proxy adds what localstripe lacks, answering as Stripe documents
it: idempotency keys on POSTs (the first response replayed), `return_url` and
`setup_future_usage` with a hosted redirect page for 3-D Secure, the account object dj-stripe
asks for, and balance transactions (fee 2.9% + 25 minor units) and payout listings for settlement.
For the faults a test needs: refunds that stay `pending` until the test settles them
(`refund_status_next`, `refund_settle`), answers that are processed but lost on the way back
(`lose_answers`), and idempotency keys that Stripe has pruned (`forget_idempotency_keys`).
"""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from payments.gateways.sandbox.gateway import (
    CARD_COUNTRIES,  # Stripe's international test cards, as the sandbox has them
)

ACCOUNT = {
    "id": "acct_1TestDouble0001",
    "object": "account",
    "business_profile": {"name": "Media Manager Test", "url": None, "support_email": None},
    "business_type": "company",
    "capabilities": {"card_payments": "active", "transfers": "active"},
    "charges_enabled": True,
    "country": "DE",
    "created": 1700000000,
    "default_currency": "eur",
    "details_submitted": True,
    "email": "billing@example.com",
    "metadata": {},
    "payouts_enabled": True,
    "settings": {"dashboard": {"display_name": "Media Manager Test", "timezone": "Etc/UTC"}},
    "type": "standard",
}


_AUTHENTICATION_REQUIRED = {
    "error": {
        "type": "card_error",
        "code": "authentication_required",
        "decline_code": "authentication_required",
        "message": "Your card was declined. This transaction requires authentication.",
    }
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fee(amount: int) -> int:
    # 2.9% + 25 minor units, half-up, as the sandbox charges
    return (amount * 29 + 500) // 1000 + 25


class StripeDouble:
    def __init__(self):
        self.local_port = free_port()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.idempotent: dict[str, tuple[int, bytes]] = {}
        self.intents: dict[str, dict] = {}  # id -> {"return_url", "client_secret"}
        self.requests: list[tuple[str, str, dict]] = []  # what our code sent: (method, path, params)
        self.fail_next: list[Exception] = []
        self.payouts: dict[str, list[str]] = {}  # payout id -> payment intent ids
        self.payout_objects: dict[str, dict] = {}
        self.card_numbers: dict[str, str] = {}  # payment method id -> number, as Stripe knows it
        self.setup_intents: dict[str, dict] = {}
        self.lose_answers: dict[str, int] = {}  # path -> how many answers to POSTs there are processed, then lost
        self.refund_status_next: list[str] = []  # statuses of the next refunds created ("pending", ...)
        self.refund_statuses: dict[str, str] = {}  # refund id -> its status, where not localstripe's succeeded
        self.lock = threading.Lock()
        self._process = None
        self._server = None

    # --- lifecycle

    def start(self):
        self._process = subprocess.Popen(
            [str(Path(sys.executable).with_name("localstripe")), "--port", str(self.local_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.local_port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("localstripe did not start")
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                double.handle(self, "GET")

            def do_POST(self):
                double.handle(self, "POST")

            def do_DELETE(self):
                double.handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._process:
            self._process.terminate()
            self._process.wait(timeout=10)

    def reset(self):
        """Forget everything between tests (localstripe's store too)."""
        urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{self.local_port}/_config/data", method="DELETE")
        )
        with self.lock:
            self.idempotent.clear()
            self.intents.clear()
            self.requests.clear()
            self.payouts.clear()
            self.payout_objects.clear()
            self.card_numbers.clear()
            self.setup_intents.clear()
            self.lose_answers.clear()
            self.refund_status_next.clear()
            self.refund_statuses.clear()

    # --- plumbing

    def _forward(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.local_port}{path}",
            data=body,
            method=method,
            headers={
                k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type", "stripe-version")
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    @staticmethod
    def _send(handler, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None):
        if getattr(handler, "lose_answer", False):
            handler.close_connection = True
            return  # done, but the client never hears of it
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _rewrite_intent(self, data: dict) -> dict:
        """localstripe says `use_stripe_sdk`; Stripe with a return_url says `redirect_to_url`."""
        if data.get("object") != "payment_intent":
            return data
        known = self.intents.setdefault(data["id"], {})
        known.setdefault("client_secret", data.get("client_secret"))
        if data.get("status") == "requires_action":
            data["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": f"{self.url}/3ds/{data['id']}", "return_url": known.get("return_url")},
            }
        return data

    # --- routes

    def handle(self, handler, method: str):
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        params = {k: v[-1] for k, v in parse_qs(body.decode() if method == "POST" else split.query).items()}
        with self.lock:
            self.requests.append((method, split.path, dict(params)))
            if method == "POST" and self.lose_answers.get(split.path, 0) > 0:
                self.lose_answers[split.path] -= 1
                handler.lose_answer = True
        if self.fail_next:
            error = self.fail_next.pop(0)
            if isinstance(error, TimeoutError):
                time.sleep(0.05)
                handler.close_connection = True
                return  # drop the connection: the client sees no answer
        if split.path.startswith("/3ds-setup/"):
            return self._setup_challenge(handler, method, split.path.rsplit("/", 1)[1], params)
        if split.path == "/v1/setup_intents" and method == "POST":
            return self._setup_intent_create(handler, params, handler.headers.get("Idempotency-Key"))
        if split.path.startswith("/v1/setup_intents/") and method == "GET":
            intent = self.setup_intents.get(split.path.rsplit("/", 1)[1])
            return self._send(
                handler,
                200 if intent else 404,
                json.dumps(intent or {"error": {"message": "No such setup intent"}}).encode(),
            )
        if split.path.startswith("/3ds/"):
            return self._challenge(handler, method, split.path.rsplit("/", 1)[1], params)
        if split.path == "/v1/account":
            return self._send(handler, 200, json.dumps(ACCOUNT).encode())
        if split.path.startswith("/v1/payouts/") and method == "GET":
            payout = self.payout_objects.get(split.path.rsplit("/", 1)[1])
            if payout is None:
                return self._send(
                    handler,
                    404,
                    json.dumps({"error": {"type": "invalid_request_error", "message": "No such payout"}}).encode(),
                )
            return self._send(handler, 200, json.dumps(payout).encode())
        if split.path == "/v1/balance_transactions" and method == "GET":
            return self._balance_transactions(handler, params, dict(handler.headers))

        key = handler.headers.get("Idempotency-Key")
        if method == "POST" and key:
            with self.lock:
                if key in self.idempotent:
                    status, content = self.idempotent[key]
                    return self._send(handler, status, content, headers={"Idempotent-Replayed": "true"})

        if split.path == "/v1/payment_intents" and method == "POST" and self._refused_off_session(params):
            status, content = 402, json.dumps(_AUTHENTICATION_REQUIRED).encode()
        elif split.path == "/v1/payment_intents" and method == "POST":
            return_url = params.pop("return_url", None)
            params.pop("setup_future_usage", None)
            params.pop("description", None)  # localstripe refuses it; Stripe stores it
            params.pop("expand[0]", None)
            status, content = self._forward(method, split.path, urlencode(params).encode(), dict(handler.headers))
            data = json.loads(content)
            intent = data if status == 200 else (data.get("error") or {}).get("payment_intent")
            if intent:
                self.intents.setdefault(intent["id"], {})["return_url"] = return_url
            if status == 200:
                content = json.dumps(self._rewrite_intent(data)).encode()
        elif split.path == "/v1/payment_intents" and method == "GET":
            # localstripe lists without filters; Stripe filters by customer.
            status, content = self._forward("GET", "/v1/payment_intents?limit=100", None, dict(handler.headers))
            data = json.loads(content)
            if status == 200 and params.get("customer"):
                data["data"] = [i for i in data["data"] if i.get("customer") == params["customer"]]
            content = json.dumps(data).encode()
        elif split.path.startswith("/v1/payment_intents/") and method == "GET":
            intent_id = split.path.rsplit("/", 1)[1]
            status, content = self._forward("GET", f"/v1/payment_intents/{intent_id}", None, dict(handler.headers))
            if status == 200:
                data = self._rewrite_intent(json.loads(content))
                if (
                    "latest_charge.balance_transaction" in split.query.replace("%5B%5D", "[]")
                    or "balance_transaction" in split.query
                ):
                    data["latest_charge"] = self._charge_with_balance(data)
                content = json.dumps(data).encode()
        elif split.path == "/v1/payment_methods" and method == "POST":
            status, content = self._forward(method, split.path, body, dict(handler.headers))
            if status == 200 and params.get("card[number]"):
                self.card_numbers[json.loads(content)["id"]] = params["card[number]"]
                content = json.dumps(self._rewrite_card_country(json.loads(content))).encode()
        else:
            forward_body = body if method == "POST" else None
            path = split.path + (f"?{split.query}" if split.query else "")
            status, content = self._forward(method, path, forward_body, dict(handler.headers))
            if split.path.startswith("/v1/refunds") and status == 200:
                content = json.dumps(self._rewrite_refunds(json.loads(content), created=method == "POST")).encode()
            if split.path.startswith("/v1/payment_methods/") and status == 200:
                content = json.dumps(self._rewrite_card_country(json.loads(content))).encode()
        if method == "POST" and key and status < 500:
            with self.lock:
                self.idempotent[key] = (status, content)
        self._send(handler, status, content)

    def _refused_off_session(self, params: dict) -> bool:
        """Stripe refuses an off-session payment on a card whose bank authenticates every payment
        (4000 0027 6000 3184) with `authentication_required`; localstripe would ask for 3-D Secure."""
        off_session = str(params.get("off_session", "")).lower() == "true"
        return off_session and self.card_numbers.get(params.get("payment_method", "")) == "4000002760003184"

    def _rewrite_card_country(self, data: dict) -> dict:
        """A card PaymentMethod's `card.country`, the issuing country Stripe knows from the number."""
        if data.get("object") == "payment_method" and isinstance(data.get("card"), dict):
            # Any other card is a US one (localstripe says FR for every card).
            data["card"]["country"] = CARD_COUNTRIES.get(self.card_numbers.get(data.get("id", ""), ""), "US")
        return data

    def _rewrite_refunds(self, data: dict, *, created: bool) -> dict:
        """localstripe refunds at once; Stripe may keep a refund `pending` and settle it later."""
        with self.lock:
            if created and self.refund_status_next:
                self.refund_statuses[data["id"]] = self.refund_status_next.pop(0)
            for refund in data.get("data", [data]):
                status = self.refund_statuses.get(refund.get("id"))
                if status:
                    refund["status"] = status
                    refund["failure_reason"] = "expired_or_canceled_card" if status == "failed" else None
        return data

    def _charge_with_balance(self, intent: dict) -> dict | None:
        charge = intent.get("latest_charge")
        if intent.get("status") != "succeeded":
            return charge if isinstance(charge, dict) else None
        charge_id = charge if isinstance(charge, str) else (charge or {}).get("id", f"ch_for_{intent['id']}")
        amount = intent["amount"]
        return {
            "id": charge_id,
            "object": "charge",
            "payment_intent": intent["id"],
            "balance_transaction": {
                "id": f"txn_{intent['id'][3:]}",
                "object": "balance_transaction",
                "amount": amount,
                "currency": intent["currency"],
                "fee": _fee(amount),
                "net": amount - _fee(amount),
                "type": "charge",
                "source": charge_id,
                "status": "available",
            },
        }

    def _balance_transactions(self, handler, params: dict, headers: dict):
        payout = params.get("payout", "")
        rows = []
        for intent_id in self.payouts.get(payout, []):
            _status, content = self._forward("GET", f"/v1/payment_intents/{intent_id}", None, headers)
            intent = json.loads(content)
            charge = self._charge_with_balance(intent)
            if charge:
                row = dict(charge["balance_transaction"])
                row["source"] = {"id": charge["id"], "object": "charge", "payment_intent": intent_id}
                rows.append(row)
        body = {"object": "list", "data": rows, "has_more": False, "url": "/v1/balance_transactions"}
        self._send(handler, 200, json.dumps(body).encode())

    def _challenge(self, handler, method: str, intent_id: str, params: dict):
        known = self.intents.get(intent_id)
        if known is None:
            return self._send(handler, 404, b"no such challenge", "text/plain")
        if method == "GET":
            page = '<form method="post"><button name="action" value="approve">Approve</button><button name="action" value="fail">Fail</button></form>'
            return self._send(handler, 200, page.encode(), "text/html")
        success = "true" if params.get("action") == "approve" else "false"
        form = urlencode({"client_secret": known["client_secret"], "success": success}).encode()
        self._forward(
            "POST",
            f"/v1/payment_intents/{intent_id}/_authenticate",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer sk_test"},
        )
        location = known.get("return_url") or f"{self.url}/done"
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    # --- SetupIntents (localstripe cannot confirm one at creation): answered as Stripe documents

    def _setup_intent_create(self, handler, params: dict, key: str | None):
        with self.lock:
            if key and key in self.idempotent:
                status, content = self.idempotent[key]
                return self._send(handler, status, content, headers={"Idempotent-Replayed": "true"})
        number = self.card_numbers.get(params.get("payment_method", ""), "")
        intent_id = f"seti_{len(self.setup_intents) + 1:08d}"
        intent = {
            "id": intent_id,
            "object": "setup_intent",
            "payment_method": params.get("payment_method"),
            "customer": params.get("customer"),
            "usage": params.get("usage"),
            "next_action": None,
            "last_setup_error": None,
            "status": "succeeded",
            "return_url": params.get("return_url"),
        }
        if number in ("4000000000000002", "4000000000009995", "4000000000009987", "4000000000000069"):
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "card_declined",
                "message": "Your card was declined.",
                "setup_intent": intent,
            }
            content, status = json.dumps({"error": error}).encode(), 402
        else:
            if number in ("4000002500003155", "4000002760003184"):
                intent["status"] = "requires_action"
                intent["next_action"] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": f"{self.url}/3ds-setup/{intent_id}",
                        "return_url": params.get("return_url"),
                    },
                }
            self.setup_intents[intent_id] = intent
            content, status = json.dumps(intent).encode(), 200
        if key:
            with self.lock:
                self.idempotent[key] = (status, content)
        self._send(handler, status, content)

    def _setup_challenge(self, handler, method: str, intent_id: str, params: dict):
        intent = self.setup_intents.get(intent_id)
        if intent is None:
            return self._send(handler, 404, b"no such challenge", "text/plain")
        if method == "POST" and intent["status"] == "requires_action":
            intent["next_action"] = None
            if params.get("action") == "approve":
                intent["status"] = "succeeded"
            else:
                intent["status"] = "requires_payment_method"
                intent["last_setup_error"] = {"code": "setup_intent_authentication_failure"}
        self._send(handler, 200, b"ok", "text/plain")

    # --- helpers for tests

    def forget_idempotency_keys(self) -> None:
        """What Stripe does with keys older than 24 hours: a request under one is new again."""
        with self.lock:
            self.idempotent.clear()

    def refund_settle(self, refund_id: str, status: str) -> dict:
        """A pending refund reaches its end at the bank; returns the refund as Stripe now shows it."""
        with self.lock:
            self.refund_statuses[refund_id] = status
        return self.refund_object(refund_id)

    def refund_object(self, refund_id: str) -> dict:
        """A refund as Stripe shows it (for an event about it; not logged as a request of ours)."""
        return self._rewrite_refunds(self._local_get(f"/v1/refunds/{refund_id}"), created=False)

    def _local_get(self, path: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.local_port}{path}", headers={"Authorization": "Bearer sk_test_double"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def refunds_of(self, intent_id: str) -> list[dict]:
        """Every refund Stripe holds for a PaymentIntent (not logged as a request of ours)."""
        listing = self._local_get(f"/v1/refunds?payment_intent={intent_id}&limit=100")
        return self._rewrite_refunds(listing, created=False)["data"]

    def add_payout(self, payout: dict, intent_ids: list[str]) -> None:
        """A payout Stripe made, settling these PaymentIntents' charges."""
        self.payout_objects[payout["id"]] = payout
        self.payouts[payout["id"]] = list(intent_ids)

    def authenticate(self, intent_id: str, *, approve: bool) -> None:
        """What the customer's browser does on the bank's page."""
        data = urlencode({"action": "approve" if approve else "fail"}).encode()
        request = urllib.request.Request(f"{self.url}/3ds/{intent_id}", data=data, method="POST")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            if error.code != 302:
                raise

    def authenticate_setup(self, intent_id: str, *, approve: bool) -> None:
        """The cardholder on the bank's page of a SetupIntent."""
        data = urlencode({"action": "approve" if approve else "fail"}).encode()
        request = urllib.request.Request(f"{self.url}/3ds-setup/{intent_id}", data=data, method="POST")
        try:
            urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
        except urllib.error.HTTPError as error:
            if error.code != 302:
                raise


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
