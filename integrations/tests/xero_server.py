"""A local server shaped like Xero's Accounting API 2.0 and its identity server (on
pytest-httpserver): the token endpoint (refresh_token grant, Basic client auth, rotating refresh
tokens: the old one stops working), Bearer access tokens that expire, the xero-tenant-id header,
Idempotency-Key replays, Contacts, Invoices, Payments, CreditNotes and their Allocations with
Xero's own checks (unique names and numbers, known account codes and tax types, line amounts that
add up, no payment or allocation beyond what is owed), Xero's error bodies (ValidationException,
401, 403, 429 with Retry-After and X-Rate-Limit-Problem) and faults to inject. Amounts are read
as Decimals: a float would show."""

import base64
import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qs

from werkzeug import Request, Response

CLIENT_ID = "9E6B1D2C3A4F4B5C8D7E6F5A4B3C2D1E"
CLIENT_SECRET = "xero-client-secret-0123456789abcdef"
REFRESH_TOKEN = "xrt-initial-refresh-token"
TENANT_ID = "4f5e6d7c-8b9a-4c1d-9e2f-3a4b5c6d7e8f"
API = "/api.xro/2.0"
TOKEN_PATH = "/connect/token"

# The organisation's chart of accounts and tax rates (a UK-like demo company).
ACCOUNTS = {"200": "REVENUE", "201": "REVENUE", "260": "REVENUE", "090": "BANK", "610": "CURRLIAB"}
TAX_TYPES = {"OUTPUT2", "ECOUTPUTSERVICES", "EXEMPTOUTPUT", "ZERORATEDOUTPUT", "NONE"}


@dataclass
class Call:
    method: str
    path: str  # without the API prefix: /Invoices, /connect/token
    headers: dict
    body: object
    status: int

    @property
    def authorization(self) -> str:
        return self.headers.get("Authorization", "")


@dataclass
class XeroServer:
    tenant_id: str = TENANT_ID
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    expires_in: int = 1800
    contacts: dict = field(default_factory=dict)
    invoices: dict = field(default_factory=dict)
    credit_notes: dict = field(default_factory=dict)
    payments: dict = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[tuple[int, dict, object]] = field(default_factory=list)
    refresh_token: str = REFRESH_TOKEN
    access_tokens: set = field(default_factory=set)  # the ones still valid
    used_refresh_tokens: list = field(default_factory=list)
    replays: dict = field(default_factory=dict)  # idempotency key -> (body, status, answer)
    prefix: str = ""
    # Set: API requests (not the token endpoint) wait for it before they are handled, so a worker
    # can be killed while one is in flight; `held` counts those that waited.
    hold: threading.Event | None = None
    held: int = 0
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, httpserver, *, prefix: str = "") -> "XeroServer":
        """Serve under `prefix` ("/second": another organisation on the same local server)."""
        self.prefix = prefix
        httpserver.expect_request(re.compile(rf"^{prefix}({API}/.*|{TOKEN_PATH})$")).respond_with_handler(self.handle)
        root = httpserver.url_for(prefix or "/").rstrip("/")
        self.base_url, self.token_url = root + API, root + TOKEN_PATH
        return self

    # --- what tests ask

    def fail_next(
        self, status: int, *, retry_after: str | None = None, problem: str = "minute", messages=(), times: int = 1
    ) -> None:
        """The next API requests (not the token endpoint) answer `status`: 429 with Retry-After and
        X-Rate-Limit-Problem, 401 token expired, 400 a ValidationException with `messages`."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if status == 429:
            headers["X-Rate-Limit-Problem"] = problem
        self.faults.extend([(status, headers, list(messages))] * times)

    def expire_access_tokens(self) -> None:
        """Every access token handed out stops working (as one does after 30 minutes)."""
        self.access_tokens.clear()

    def sent(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """The API requests Xero accepted (2xx), in order (token calls left out)."""
        return [
            call
            for call in self.calls
            if 200 <= call.status < 300
            and call.path != TOKEN_PATH
            and (method is None or call.method == method)
            and (path is None or call.path == path)
        ]

    def token_calls(self) -> list[Call]:
        return [call for call in self.calls if call.path == TOKEN_PATH]

    def _new_id(self) -> str:
        """Xero's ids are UUIDs; counted here, so two organisations sent the same calls give the same ids."""
        return str(uuid.UUID(int=next(self._ids)))

    # --- HTTP

    @staticmethod
    def _json(status: int, body, headers: dict | None = None) -> Response:
        return Response(json.dumps(body, default=str), status=status, headers=headers, content_type="application/json")

    def _validation(self, *messages: str) -> Response:
        body = {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": message} for message in messages]}],
        }
        return self._json(400, body)

    def handle(self, request: Request) -> Response:
        if self.hold is not None and request.path.removeprefix(self.prefix) != TOKEN_PATH:
            with self._lock:
                self.held += 1
            self.hold.wait(timeout=120)
        with self._lock:
            path = request.path.removeprefix(self.prefix)
            raw = request.get_data()
            if path == TOKEN_PATH:
                body = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                response = self._token(request, body)
            else:
                path = path.removeprefix(API)
                try:
                    body = json.loads(raw, parse_float=Decimal) if raw else None
                except ValueError:
                    body = None
                response = self._api(request, path, body)
            headers = {
                name: request.headers.get(name, "")
                for name in ("Authorization", "xero-tenant-id", "Idempotency-Key", "Content-Type")
            }
            self.calls.append(Call(request.method, path, headers, body, response.status_code))
            return response

    def _token(self, request: Request, form: dict) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.method != "POST" or request.headers.get("Authorization") != f"Basic {expected}":
            return self._json(400, {"error": "invalid_client"})
        if form.get("grant_type") != "refresh_token":
            return self._json(400, {"error": "unsupported_grant_type"})
        if form.get("refresh_token") != self.refresh_token:
            return self._json(400, {"error": "invalid_grant"})
        number = next(self._seq)
        self.used_refresh_tokens.append(self.refresh_token)
        self.refresh_token = f"xrt-rotated-{number}"  # the old one stops working now
        access = f"xat-{number}-{uuid.uuid4().hex}"
        self.access_tokens.add(access)
        answer = {
            "id_token": "not-used",
            "access_token": access,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "refresh_token": self.refresh_token,
            "scope": "offline_access accounting.transactions accounting.contacts",
        }
        return self._json(200, answer)

    def _api(self, request: Request, path: str, body) -> Response:
        if self.faults:
            status, headers, messages = self.faults.pop(0)
            if status == 400:
                return self._validation(*(messages or ["A validation fault was injected"]))
            if status == 401:
                self.expire_access_tokens()
                return self._json(401, {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired"})
            if status == 429:
                return self._json(429, {"Title": "Too Many Requests", "Status": 429}, headers)
            return self._json(status, {"Title": "Internal Server Error", "Status": status})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.access_tokens:
            return self._json(401, {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired"})
        if request.headers.get("xero-tenant-id") != self.tenant_id:
            return self._json(
                403, {"Type": None, "Title": "Forbidden", "Status": 403, "Detail": "AuthorizationUnsuccessful"}
            )
        if request.method in ("PUT", "POST") and (request.mimetype != "application/json" or not isinstance(body, dict)):
            return self._validation("The request body is not JSON")
        key = request.headers.get("Idempotency-Key")
        if key and key in self.replays:
            first_body, status, answer = self.replays[key]
            if first_body != body:
                return self._validation("The Idempotency-Key was used with another request")
            return self._json(status, answer)
        response = self._route(request.method, path, body)
        if key and response.status_code < 500:
            self.replays[key] = (body, response.status_code, json.loads(response.get_data()))
        return response

    def _route(self, method: str, path: str, body) -> Response:
        if method == "POST" and path == "/Contacts":
            return self._contact(body, None)
        match = re.fullmatch(r"/Contacts/([0-9a-f-]{36})", path)
        if method == "POST" and match:
            return self._contact(body, match[1])
        if method == "PUT" and path == "/Invoices":
            return self._document(body, "Invoices")
        if method == "PUT" and path == "/CreditNotes":
            return self._document(body, "CreditNotes")
        if method == "PUT" and path == "/Payments":
            return self._payment(body)
        match = re.fullmatch(r"/CreditNotes/([0-9a-f-]{36})/Allocations", path)
        if method == "PUT" and match:
            return self._allocation(match[1], body)
        return self._json(404, {"Title": "Not Found", "Status": 404})

    @staticmethod
    def _one(body, collection: str) -> dict | None:
        items = body.get(collection) if isinstance(body, dict) else None
        return items[0] if isinstance(items, list) and len(items) == 1 and isinstance(items[0], dict) else None

    # --- Contacts

    def _contact(self, body, contact_id: str | None) -> Response:
        contact = self._one(body, "Contacts")
        if contact is None:
            return self._validation("Contacts is required")
        if contact_id is not None and contact_id not in self.contacts:
            return self._json(404, {"Title": "Not Found", "Status": 404})
        name = contact.get("Name") if contact_id is None else contact.get("Name", self.contacts[contact_id]["Name"])
        if not isinstance(name, str) or not name.strip():
            return self._validation("The contact name must be specified.")
        for other_id, other in self.contacts.items():
            if other_id != contact_id and other["Name"] == name:
                return self._validation(f"The contact name {name} is already assigned to another contact.")
        contact_id = contact_id or self._new_id()
        stored = {**self.contacts.get(contact_id, {}), **contact, "ContactID": contact_id, "ContactStatus": "ACTIVE"}
        self.contacts[contact_id] = stored
        return self._json(200, {"Status": "OK", "Contacts": [stored]})

    # --- Invoices and credit notes

    def _document(self, body, collection: str) -> Response:
        invoice = collection == "Invoices"
        document = self._one(body, collection)
        if document is None:
            return self._validation(f"{collection} is required")
        expected_type, number_name = ("ACCREC", "InvoiceNumber") if invoice else ("ACCRECCREDIT", "CreditNoteNumber")
        store = self.invoices if invoice else self.credit_notes
        errors = []
        if document.get("Type") != expected_type:
            errors.append(f"The document type must be {expected_type} here.")
        if (document.get("Contact") or {}).get("ContactID") not in self.contacts:
            errors.append("A valid contact must be specified.")
        number = document.get(number_name)
        if number and any(other.get(number_name) == number for other in store.values()):
            errors.append(f"{'Invoice' if invoice else 'Credit Note'} # must be unique.")
        if document.get("Status") != "AUTHORISED":
            errors.append("This connector's documents are sent AUTHORISED.")
        if not re.fullmatch(r"[A-Z]{3}", str(document.get("CurrencyCode") or "")):
            errors.append("A currency code must be specified.")
        kind = document.get("LineAmountTypes")
        if kind not in ("Exclusive", "Inclusive"):
            errors.append("LineAmountTypes must be Exclusive or Inclusive.")
        lines = document.get("LineItems")
        if not isinstance(lines, list) or not lines:
            errors.append("At least one line item is required.")
            lines = []
        sub_total = total_tax = line_sum = Decimal(0)
        for line in lines:
            errors.extend(self._line_errors(line))
            if errors:
                continue
            line_sum += line["LineAmount"]
            total_tax += line["TaxAmount"]
        if errors:
            return self._validation(*errors)
        if kind == "Exclusive":
            sub_total, total = line_sum, line_sum + total_tax
        else:
            sub_total, total = line_sum - total_tax, line_sum
        stored = {
            **document,
            "SubTotal": sub_total,
            "TotalTax": total_tax,
            "Total": total,
            "Payments": [],
            "Allocations": [],
        }
        if invoice:
            stored.update(InvoiceID=self._new_id(), AmountDue=total, AmountPaid=Decimal(0), AmountCredited=Decimal(0))
            stored["Status"] = "PAID" if total == 0 else "AUTHORISED"
            self.invoices[stored["InvoiceID"]] = stored
        else:
            stored.update(CreditNoteID=self._new_id(), RemainingCredit=total)
            self.credit_notes[stored["CreditNoteID"]] = stored
        return self._json(200, {"Status": "OK", collection: [stored]})

    @staticmethod
    def _line_errors(line) -> list[str]:
        if not isinstance(line, dict):
            return ["A line item must be an object."]
        errors = []
        for name in ("Quantity", "UnitAmount", "TaxAmount", "LineAmount"):
            if not isinstance(line.get(name), int | Decimal) or isinstance(line.get(name), bool):
                errors.append(f"{name} must be a number.")
        if "DiscountAmount" in line and not isinstance(line["DiscountAmount"], int | Decimal):
            errors.append("DiscountAmount must be a number.")
        if not line.get("Description"):
            errors.append("Description is required for a line item.")
        if line.get("AccountCode") not in ACCOUNTS or ACCOUNTS.get(line.get("AccountCode")) == "BANK":
            errors.append(f"Account code '{line.get('AccountCode')}' is not a valid code for this document.")
        if line.get("TaxType") not in TAX_TYPES:
            errors.append(
                f"The TaxType code '{line.get('TaxType')}' does not exist or cannot be used for this type of transaction."
            )
        if not errors:
            expected = Decimal(line["Quantity"]) * Decimal(line["UnitAmount"]) - Decimal(line.get("DiscountAmount", 0))
            if expected != line["LineAmount"]:
                errors.append(f"The line total {line['LineAmount']} does not match the expected line total {expected}.")
        return errors

    # --- Payments and allocations

    def _payment(self, body) -> Response:
        payment = self._one(body, "Payments")
        if payment is None:
            return self._validation("Payments is required")
        code = (payment.get("Account") or {}).get("Code")
        if ACCOUNTS.get(code) != "BANK":
            return self._validation(f"Account code '{code}' is not a bank account that accepts payments.")
        amount = payment.get("Amount")
        if not isinstance(amount, Decimal) or amount <= 0:
            return self._validation("Payment amount must be a positive number.")
        invoice_id = (payment.get("Invoice") or {}).get("InvoiceID")
        note_id = (payment.get("CreditNote") or {}).get("CreditNoteID")
        if invoice_id in self.invoices:
            document, owed = self.invoices[invoice_id], "AmountDue"
        elif note_id in self.credit_notes:
            document, owed = self.credit_notes[note_id], "RemainingCredit"
        else:
            return self._validation("An invoice or credit note must be specified.")
        if amount > document[owed]:
            return self._validation("Payment amount exceeds the amount outstanding on this document.")
        document[owed] -= amount
        if invoice_id in self.invoices:
            document["AmountPaid"] += amount
        if document[owed] == 0:
            document["Status"] = "PAID"
        stored = {**payment, "PaymentID": self._new_id(), "Status": "AUTHORISED"}
        self.payments[stored["PaymentID"]] = stored
        document["Payments"].append(stored["PaymentID"])
        return self._json(200, {"Status": "OK", "Payments": [stored]})

    def _allocation(self, note_id: str, body) -> Response:
        note = self.credit_notes.get(note_id)
        if note is None:
            return self._json(404, {"Title": "Not Found", "Status": 404})
        allocation = self._one(body, "Allocations")
        if allocation is None:
            return self._validation("Allocations is required")
        invoice = self.invoices.get((allocation.get("Invoice") or {}).get("InvoiceID"))
        amount = allocation.get("Amount")
        if invoice is None:
            return self._validation("A valid invoice must be specified.")
        if not isinstance(amount, Decimal) or amount <= 0:
            return self._validation("The amount must be a positive number.")
        if amount > invoice["AmountDue"] or amount > note["RemainingCredit"]:
            return self._validation(
                "The amount to allocate exceeds what is due on the invoice or left on the credit note."
            )
        invoice["AmountDue"] -= amount
        invoice["AmountCredited"] += amount
        note["RemainingCredit"] -= amount
        for document, owed in ((invoice, "AmountDue"), (note, "RemainingCredit")):
            if document[owed] == 0:
                document["Status"] = "PAID"
        stored = {**allocation, "AllocationID": self._new_id()}
        note["Allocations"].append(stored)
        return self._json(200, {"Status": "OK", "Allocations": [stored]})

    # --- reading back

    def invoice_by_number(self, number: str) -> dict:
        (invoice,) = [invoice for invoice in self.invoices.values() if invoice.get("InvoiceNumber") == number]
        return invoice


def forget_committed_tokens() -> None:
    """Delete the token rows the connector committed from its own connection (a test's rollback
    does not take them away)."""
    from django.db import DEFAULT_DB_ALIAS, connections

    current = connections[DEFAULT_DB_ALIAS]
    if current.vendor == "sqlite":
        return  # there the tokens were saved in the test's own transaction, which rolls back
    apart = type(current)(current.settings_dict, current.alias)
    try:
        with apart.cursor() as cursor:
            cursor.execute("DELETE FROM integrations_connectortoken")
    finally:
        apart.close()
