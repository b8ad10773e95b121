"""Xero (accounting): a contact per paying customer, an ACCREC invoice for each paid invoice with its
lines, tax types and account codes, the payment against it, and for a refund an ACCRECCREDIT credit
note with the refunded share of the lines, allocated to the invoice for what it still owes and
paid out (a cash refund) for the rest. OAuth2 with rotating refresh tokens and the tenant header.

A small typed client on httpx rather than the xero-python SDK (read at 15.2.0): its token URL is a
class attribute fixed to identity.xero.com, it sends the client secret in the form body where we
use Basic auth, its models type every amount as float, and a failed refresh raises a bare
Exception carrying the response headers. Five plain JSON calls, with 401 and 429/Retry-After in our
own hands, are less than adapting it.

The operator maps our lines to Xero: an AccountCode per plan code (with a default), a TaxType per
tax case (tax status, country, rate; with a default) and the bank/clearing account code that
payments and refunds go through (`xero_settings_update`, the admin's Xero mapping screen)."""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import httpx
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from integrations.connectors.base import VendorError, VendorRateLimited, VendorUnauthorized, retry_after_seconds
from integrations.connectors.models import ConnectorToken
from integrations.connectors.records import latest_customer_payload, latest_plan_payload, record_find, record_for
from integrations.kernel.errors import InvalidRequest
from integrations.models import Connector, ConnectorRecord, Event

DEFAULT_BASE_URL = "https://api.xero.com/api.xro/2.0"
DEFAULT_TOKEN_URL = "https://identity.xero.com/connect/token"
TIMEOUT_SECONDS = 15
REFRESH_AHEAD = timedelta(minutes=1)  # refresh an access token that expires within this
TAX_STATUSES = ("collecting", "reverse_charge", "not_registered", "no_rate")
MAPPING_SCREEN = "the connector's Xero mapping screen"

_ACCOUNT_CODE = re.compile(r"^[A-Za-z0-9._-]{1,10}$")  # Xero: alphanumeric, at most 10 characters
_TAX_TYPE = re.compile(r"^[A-Z0-9_]{1,50}$")  # OUTPUT2, ECOUTPUTSERVICES, EXEMPTOUTPUT, NONE, TAX001
_PLAN_CODE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


# --- The mapping -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxRule:
    """Which TaxType a line posts with: its invoice's tax status, in `country` ("" = any) at
    `rate` (None = any). The most specific rule that matches wins."""

    tax_status: str
    country: str
    rate: Decimal | None
    tax_type: str

    def matches(self, *, tax_status: str, country: str, rate: Decimal) -> bool:
        return (
            self.tax_status == tax_status and self.country in ("", country) and (self.rate is None or self.rate == rate)
        )

    @property
    def specificity(self) -> tuple[bool, bool]:
        return bool(self.country), self.rate is not None

    def setting(self) -> dict:
        rate = "" if self.rate is None else _rate_text(self.rate)
        return {"tax_status": self.tax_status, "country": self.country, "rate": rate, "tax_type": self.tax_type}


def _rate_text(rate: Decimal) -> str:
    text = f"{rate:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


def _case(tax_status: str, country: str, rate: Decimal) -> str:
    where = f" in {country}" if country else ""
    return f"{tax_status.replace('_', ' ')}{where} at rate {_rate_text(rate)}"


@dataclass(frozen=True)
class XeroMapping:
    default_account_code: str = ""
    plan_account_codes: dict[str, str] = field(default_factory=dict)
    default_tax_type: str = ""
    tax_rules: tuple[TaxRule, ...] = ()
    payment_account_code: str = ""

    @classmethod
    def from_settings(cls, settings_: dict) -> "XeroMapping":
        """What xero_settings_update stored (already validated)."""
        rules = tuple(
            TaxRule(
                tax_status=rule["tax_status"],
                country=rule.get("country") or "",
                rate=Decimal(rule["rate"]) if rule.get("rate") not in (None, "") else None,
                tax_type=rule["tax_type"],
            )
            for rule in settings_.get("tax_types") or []
        )
        return cls(
            default_account_code=settings_.get("default_account_code") or "",
            plan_account_codes=dict(settings_.get("plan_account_codes") or {}),
            default_tax_type=settings_.get("default_tax_type") or "",
            tax_rules=rules,
            payment_account_code=settings_.get("payment_account_code") or "",
        )

    def account_code(self, plan_code: str) -> str:
        code = self.plan_account_codes.get(plan_code) or self.default_account_code
        if not code:
            plan = f"plan '{plan_code}'" if plan_code else "a line whose plan is not known"
            raise VendorError(
                f"No Xero account code is mapped for {plan} and there is no default account code: "
                f"add one on {MAPPING_SCREEN}."
            )
        return code

    def tax_type(self, *, tax_status: str, country: str, rate: Decimal) -> str:
        matching = [rule for rule in self.tax_rules if rule.matches(tax_status=tax_status, country=country, rate=rate)]
        if matching:
            return max(matching, key=lambda rule: rule.specificity).tax_type
        if self.default_tax_type:
            return self.default_tax_type
        raise VendorError(
            f"No Xero tax type is mapped for {_case(tax_status, country, rate)} and there is no default "
            f"tax type: add one on {MAPPING_SCREEN}."
        )

    def payment_account(self) -> str:
        if not self.payment_account_code:
            raise VendorError(
                f"No Xero bank or clearing account code is set for payments and refunds: add it on {MAPPING_SCREEN}."
            )
        return self.payment_account_code


def _invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, code="parameter_invalid", param=param)


def _account_code_clean(value, param: str, *, required: bool = False) -> str:
    code = str(value or "").strip()
    if not code:
        if required:
            raise _invalid("An account code is needed.", param)
        return ""
    if not _ACCOUNT_CODE.match(code):
        raise _invalid(
            f"'{code[:40]}' is not a Xero account code (letters, digits, '.', '_' or '-', at most 10).", param
        )
    return code


def _tax_type_clean(value, param: str, *, required: bool = False) -> str:
    tax_type = str(value or "").strip().upper()
    if not tax_type:
        if required:
            raise _invalid("A tax type is needed.", param)
        return ""
    if not _TAX_TYPE.match(tax_type):
        raise _invalid(f"'{tax_type[:60]}' is not a Xero tax type (such as OUTPUT2, EXEMPTOUTPUT, NONE).", param)
    return tax_type


def _rate_clean(value, param: str) -> Decimal | None:
    text = str(value if value is not None else "").strip()
    if text in ("", "*"):
        return None
    percent = text.endswith("%")
    try:
        rate = Decimal(text.rstrip("%").strip())
    except InvalidOperation:
        raise _invalid(f"'{text[:20]}' is not a rate (0.19, or 19%).", param) from None
    if percent:
        rate /= 100
    if not rate.is_finite() or not 0 <= rate < 1:
        raise _invalid(f"'{text[:20]}' is not a rate between 0 and 1 (0.19 is 19%).", param)
    return rate.normalize() if rate else Decimal(0)


def xero_settings_validate(values: dict) -> dict:
    """The Xero settings an operator may set, checked and normalized (InvalidRequest naming the
    field otherwise): tenant_id, token_url, default_account_code, plan_account_codes {plan code:
    account code}, default_tax_type, tax_types [{tax_status, country, rate, tax_type}],
    payment_account_code. Keys left out are not changed."""
    clean: dict = {}
    if "tenant_id" in values:
        tenant = str(values["tenant_id"] or "").strip()
        try:
            clean["tenant_id"] = str(uuid.UUID(tenant)) if tenant else ""
        except ValueError:
            raise _invalid("The tenant id is the organisation's id in Xero, a UUID.", "tenant_id") from None
    if "token_url" in values:
        token_url = str(values["token_url"] or "").strip() or DEFAULT_TOKEN_URL
        if not token_url.startswith(("https://", "http://")) or len(token_url) > 500:
            raise _invalid("The token URL must start with https:// or http://.", "token_url")
        clean["token_url"] = token_url
    for name in ("default_account_code", "payment_account_code"):
        if name in values:
            clean[name] = _account_code_clean(values[name], name)
    if "default_tax_type" in values:
        clean["default_tax_type"] = _tax_type_clean(values["default_tax_type"], "default_tax_type")
    if "plan_account_codes" in values:
        plans = values["plan_account_codes"] or {}
        if not isinstance(plans, dict):
            raise _invalid("Plan account codes are a mapping of plan code to account code.", "plan_account_codes")
        clean["plan_account_codes"] = {}
        for plan_code, account in plans.items():
            plan_code = str(plan_code).strip()
            if not _PLAN_CODE.match(plan_code):
                raise _invalid(f"'{plan_code[:70]}' is not a plan code.", "plan_account_codes")
            clean["plan_account_codes"][plan_code] = _account_code_clean(account, "plan_account_codes", required=True)
    if "tax_types" in values:
        rules = values["tax_types"] or []
        if not isinstance(rules, list):
            raise _invalid("Tax types are a list of rules.", "tax_types")
        seen, clean["tax_types"] = set(), []
        for rule in rules:
            if not isinstance(rule, dict):
                raise _invalid("A tax type rule has tax_status, country, rate and tax_type.", "tax_types")
            status = str(rule.get("tax_status") or "").strip()
            if status not in TAX_STATUSES:
                raise _invalid(f"'{status[:30]}' is not a tax status (one of {', '.join(TAX_STATUSES)}).", "tax_types")
            country = str(rule.get("country") or "").strip().upper()
            if country in ("*",):
                country = ""
            if country and not _COUNTRY.match(country):
                raise _invalid(f"'{country[:10]}' is not a two-letter country code.", "tax_types")
            rate = _rate_clean(rule.get("rate"), "tax_types")
            tax_type = _tax_type_clean(rule.get("tax_type"), "tax_types", required=True)
            parsed = TaxRule(tax_status=status, country=country, rate=rate, tax_type=tax_type)
            key = (status, country, rate)
            if key in seen:
                raise _invalid(f"Two rules for {parsed.setting()['tax_status']} {country} {rate or ''}.", "tax_types")
            seen.add(key)
            clean["tax_types"].append(parsed.setting())
    return clean


def xero_settings_update(*, connector: Connector, values: dict) -> Connector:
    """Change a Xero connector's tenant, token URL and mapping (validated), through connector_update
    so the change is audited like any other."""
    from integrations.connectors.services import connector_update  # the services import the registry, which imports us

    if connector.kind != Connector.Kind.XERO:
        raise InvalidRequest("Only a Xero connector has a Xero mapping.", code="parameter_invalid", param="connector")
    return connector_update(connector=connector, settings=xero_settings_validate(values))


# --- Tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_at: datetime | None
    refresh_token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


class XeroTokenStore:
    """The connector's current tokens. The operator enters a refresh token in the credentials; every
    refresh rotates it (the old one stops working at once), so the new tokens are written at once by
    a second database connection that commits on its own: a failing event (its savepoint rolled
    back) or a crash of the runner right after the refresh cannot lose them. The stored tokens carry
    a digest of the refresh token the operator entered: entering a new one starts from it again."""

    def __init__(self, connector: Connector):
        self.connector_id = connector.pk
        self.entered = (connector.credentials or {}).get("refresh_token", "")

    def load(self) -> Tokens:
        row = ConnectorToken.objects.filter(connector_id=self.connector_id).first()
        stored = row.tokens if row is not None else {}
        if stored.get("seed") == _digest(self.entered) and stored.get("refresh_token"):
            expires = stored.get("expires_at")
            return Tokens(
                access_token=stored.get("access_token", ""),
                expires_at=datetime.fromisoformat(expires) if expires else None,
                refresh_token=stored["refresh_token"],
            )
        return Tokens(access_token="", expires_at=None, refresh_token=self.entered)

    def save(self, tokens: Tokens) -> None:
        value = {
            "seed": _digest(self.entered),
            "access_token": tokens.access_token,
            "expires_at": tokens.expires_at.isoformat() if tokens.expires_at else "",
            "refresh_token": tokens.refresh_token,
        }
        if connection.vendor == "sqlite":
            # The laptop demo's SQLite has one writer at a time: a second connection would wait on
            # the runner's own transaction. There the tokens are saved in it (lost if it rolls back).
            ConnectorToken.objects.update_or_create(
                connector_id=self.connector_id, defaults={"tokens": value, "updated_at": timezone.now()}
            )
            return
        _commit_apart(self.connector_id, value)


_UPSERT_TOKENS = (
    "INSERT INTO integrations_connectortoken (connector_id, tokens, updated_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (connector_id) DO UPDATE SET tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at"
)


def _commit_apart(connector_id: str, value: dict) -> None:
    """Upsert the tokens row from a connection of its own, in autocommit: committed when it returns."""
    current = connections[DEFAULT_DB_ALIAS]
    apart = type(current)(current.settings_dict, current.alias)
    try:
        sealed = ConnectorToken._meta.get_field("tokens").get_prep_value(value)
        with apart.cursor() as cursor:
            cursor.execute(_UPSERT_TOKENS, [connector_id, sealed, timezone.now()])
    finally:
        apart.close()


# --- The client --------------------------------------------------------------------------------


def xero_json(value) -> str:
    """JSON with Decimals written as exact numbers (json.dumps knows no Decimal, and a float would
    round): amounts reach Xero as the digits we computed."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, float):
        raise TypeError("amounts for Xero are Decimals, never floats")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{xero_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(xero_json(item) for item in value) + "]"
    return json.dumps(value)


def _validation_messages(body) -> list[str]:
    messages = []
    if isinstance(body, dict):
        for element in body.get("Elements") or []:
            for error in (element or {}).get("ValidationErrors") or []:
                if (error or {}).get("Message"):
                    messages.append(str(error["Message"]))
        if not messages and body.get("Message"):
            messages.append(str(body["Message"]))
        if not messages and body.get("Detail"):
            messages.append(str(body["Detail"]))
    return messages


class XeroClient:
    """The Accounting API 2.0 for one organisation (`xero-tenant-id`), with an access token that the
    client refreshes itself: before a call when it is missing or expires within a minute, and once
    when Xero answers 401 mid-run (the call is then sent again once)."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tenant_id: str,
        store: XeroTokenStore,
        base_url: str = DEFAULT_BASE_URL,
        token_url: str = DEFAULT_TOKEN_URL,
        timeout: float = TIMEOUT_SECONDS,
    ):
        self._client_id, self._client_secret = client_id, client_secret
        self._tenant_id, self._store, self._token_url = tenant_id, store, token_url
        self._base_url = base_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)
        self._tokens = store.load()

    def close(self) -> None:
        self._http.close()

    # --- OAuth2

    def _expiring(self) -> bool:
        tokens = self._tokens
        return (
            not tokens.access_token or tokens.expires_at is None or tokens.expires_at - REFRESH_AHEAD <= timezone.now()
        )

    def refresh(self) -> None:
        """Trade the refresh token for new tokens (Xero rotates the refresh token) and store them at once."""
        try:
            response = self._http.post(
                self._token_url,
                data={"grant_type": "refresh_token", "refresh_token": self._tokens.refresh_token},
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as error:
            raise VendorError(f"Xero's token endpoint could not be reached ({type(error).__name__})") from None
        if response.status_code == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise VendorRateLimited("Xero's token endpoint rate limit (429)", retry_after=retry_after)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code in (400, 401):
            error = str((body or {}).get("error") or response.status_code)[:40]
            hint = {
                "invalid_client": "the client id or secret is wrong",
                "invalid_grant": "the refresh token is no longer valid: connect the app to Xero again and enter its new refresh token",
            }.get(error, "connect the app to Xero again")
            raise VendorUnauthorized(f"Xero refused to refresh the access token ({error}): {hint}.")
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            raise VendorError(f"Xero's token endpoint answered {response.status_code} without an access token")
        try:
            lifetime = int(body.get("expires_in") or 1800)
        except (TypeError, ValueError):
            lifetime = 1800
        self._tokens = Tokens(
            access_token=str(body["access_token"]),
            expires_at=timezone.now() + timedelta(seconds=lifetime),
            refresh_token=str(body.get("refresh_token") or self._tokens.refresh_token),
        )
        self._store.save(self._tokens)

    # --- HTTP

    def _send(self, method: str, path: str, body: dict | None, key: str | None) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self._tokens.access_token}",
            "xero-tenant-id": self._tenant_id,
            "Accept": "application/json",
        }
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = xero_json(body).encode()
        if key:
            headers["Idempotency-Key"] = key[:128]
        try:
            return self._http.request(method, self._base_url + path, content=content, headers=headers)
        except httpx.HTTPError as error:
            raise VendorError(f"Xero could not be reached ({type(error).__name__}) on {method} {path}") from None

    def call(self, method: str, path: str, body: dict | None = None, *, key: str | None = None) -> dict | None:
        """The answer's JSON; None for a 404. Raises VendorError with Xero's own messages otherwise."""
        if self._expiring():
            self.refresh()
        response = self._send(method, path, body, key)
        if response.status_code == 401:
            self.refresh()  # expired or revoked mid-run: once, then the same call once more
            response = self._send(method, path, body, key)
            if response.status_code == 401:
                raise VendorUnauthorized(
                    f"Xero refused a freshly refreshed access token (401) on {method} {path}: "
                    "check that the app is still connected to the organisation."
                )
        status = response.status_code
        if status == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            problem = response.headers.get("X-Rate-Limit-Problem", "")
            which = f", {problem[:20]} limit" if problem else ""
            waited = f", retry after {retry_after:g}s" if retry_after is not None else ""
            raise VendorRateLimited(f"Xero rate limit (429{which}) on {method} {path}{waited}", retry_after=retry_after)
        if status == 404:
            return None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if status == 403:
            raise VendorUnauthorized(
                f"Xero refused access to the organisation (403) on {method} {path}: check the tenant id and "
                "that the app is connected to that organisation with the accounting.transactions and "
                "accounting.contacts scopes."
            )
        if status == 400:
            messages = "; ".join(_validation_messages(answer))[:800] or "no detail"
            kind = (answer or {}).get("Type") if isinstance(answer, dict) else None
            raise VendorError(f"Xero refused {method} {path} (400 {kind or 'error'}): {messages}")
        if not 200 <= status < 300 or not isinstance(answer, dict):
            raise VendorError(f"Xero answered {status} to {method} {path}")
        return answer

    def _first(self, answer: dict | None, collection: str, id_name: str, what: str) -> str:
        try:
            return str(answer[collection][0][id_name])
        except (TypeError, KeyError, IndexError):
            raise VendorError(f"Xero's answer to {what} holds no {id_name}") from None

    def contact_create(self, *, contact: dict, key: str) -> str:
        return self._first(
            self.call("POST", "/Contacts", {"Contacts": [contact]}, key=key), "Contacts", "ContactID", "POST /Contacts"
        )

    def contact_update(self, *, contact_id: str, contact: dict, key: str) -> bool:
        """False when Xero no longer has the contact."""
        path = f"/Contacts/{contact_id}"
        return self.call("POST", path, {"Contacts": [{"ContactID": contact_id, **contact}]}, key=key) is not None

    def invoice_create(self, *, invoice: dict, key: str) -> str:
        answer = self.call("PUT", "/Invoices", {"Invoices": [invoice]}, key=key)
        return self._first(answer, "Invoices", "InvoiceID", "PUT /Invoices")

    def payment_create(self, *, payment: dict, key: str) -> str:
        answer = self.call("PUT", "/Payments", {"Payments": [payment]}, key=key)
        return self._first(answer, "Payments", "PaymentID", "PUT /Payments")

    def credit_note_create(self, *, credit_note: dict, key: str) -> str:
        answer = self.call("PUT", "/CreditNotes", {"CreditNotes": [credit_note]}, key=key)
        return self._first(answer, "CreditNotes", "CreditNoteID", "PUT /CreditNotes")

    def allocation_create(self, *, credit_note_id: str, allocation: dict, key: str) -> None:
        path = f"/CreditNotes/{credit_note_id}/Allocations"
        if self.call("PUT", path, {"Allocations": [allocation]}, key=key) is None:
            raise VendorError(f"Xero has no credit note {credit_note_id} to allocate")


# --- The mapping of our payloads ---------------------------------------------------------------


def _amount(money: dict | None) -> Decimal:
    return Decimal((money or {}).get("amount") or "0")


def _day(timestamp: str | None) -> str:
    return (timestamp or timezone.now().isoformat())[:10]


def contact_body(customer: dict) -> dict:
    """A Xero contact for one of our customers. Xero wants contact names unique, and two viewers
    may share a name: our customer id goes in the name too (and is the ContactNumber)."""
    customer_id = customer.get("id") or ""
    name = (customer.get("name") or "").strip()
    email = (customer.get("email") or "").strip()
    display = (customer.get("business_name") or "").strip() or name or email or "Customer"
    first, _, last = name.partition(" ")
    body = {
        "Name": f"{display[:200]} ({customer_id})",
        "ContactNumber": customer_id,
        "AccountNumber": (customer.get("external_id") or "")[:50],
        "EmailAddress": email,
        "FirstName": first[:255],
        "LastName": last[:255],
    }
    if customer.get("tax_id"):
        body["TaxNumber"] = str(customer["tax_id"])[:50]
    return body


class XeroHandler:
    """One run's mapping of events to Xero. A customer becomes a contact with their first paid
    invoice (trials that never pay stay out of the ledger) and is updated when they change; every
    Xero object is made once, its id kept on a ConnectorRecord, and each call carries an
    Idempotency-Key of the event and the call, so an event sent again after a failure part-way
    (its record writes rolled back) gets Xero's first answers back instead of duplicates."""

    def __init__(self, connector: Connector):
        self.connector = connector
        credentials = connector.credentials or {}
        missing = [name for name in ("client_id", "client_secret", "refresh_token") if not credentials.get(name)]
        if missing:
            raise VendorUnauthorized(
                f"The Xero connector needs its {', '.join(missing)}: enter them in its credentials."
            )
        settings_ = connector.settings or {}
        if not settings_.get("tenant_id"):
            raise VendorError(f"No Xero tenant id is set: enter the organisation's tenant id on {MAPPING_SCREEN}.")
        self.mapping = XeroMapping.from_settings(settings_)
        self.client = XeroClient(
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            tenant_id=settings_["tenant_id"],
            store=XeroTokenStore(connector),
            base_url=settings_.get("base_url") or DEFAULT_BASE_URL,
            token_url=settings_.get("token_url") or DEFAULT_TOKEN_URL,
        )

    def close(self) -> None:
        self.client.close()

    def handle(self, event: Event) -> None:
        payload = event.payload or {}
        if event.type.startswith("plan."):
            self._plan_seen(payload.get("plan") or {})
        elif event.type in ("customer.created", "customer.updated", "customer.erased"):
            self._customer_seen(event, payload.get("customer") or {})
        elif event.type == "payment.succeeded":
            self._payment_seen(event, payload.get("payment") or {})
        elif event.type == "invoice.paid":
            self._invoice_paid(event, payload.get("invoice") or {})
        elif event.type == "credit_note.created":
            self._credit_note_created(event, payload.get("credit_note") or {})

    def _record(self, object_type: str, object_id: str) -> ConnectorRecord:
        return record_for(connector=self.connector, object_type=object_type, object_id=object_id)

    @staticmethod
    def _save(record: ConnectorRecord, state: dict) -> None:
        record.state = state
        record.save(update_fields=["state", "external_id", "updated_at"])

    # --- plans and customers

    def _plan_seen(self, plan: dict) -> None:
        if plan.get("id"):
            record = self._record("plan", plan["id"])
            self._save(record, {"code": plan.get("code") or "", "name": plan.get("name") or ""})

    def _customer_seen(self, event: Event, customer: dict) -> None:
        if not event.customer_id:
            return
        record = self._record("customer", event.customer_id)
        state = {**(record.state or {}), "customer": {**customer, "id": event.customer_id}}
        body = contact_body(state["customer"])
        if record.external_id and body != state.get("sent"):
            key = f"{event.id}:contact"
            if self.client.contact_update(contact_id=record.external_id, contact=body, key=key):
                state["sent"] = body
            else:  # deleted in Xero: made again with the next invoice
                record.external_id, state["sent"] = "", None
        self._save(record, state)

    def _contact(self, customer_id: str, event: Event) -> str:
        """The customer's ContactID, the contact made now if it is their first."""
        record = self._record("customer", customer_id)
        if record.external_id:
            return record.external_id
        state = dict(record.state or {})
        customer = state.get("customer") or {**(latest_customer_payload(customer_id) or {}), "id": customer_id}
        body = contact_body(customer)
        record.external_id = self.client.contact_create(contact=body, key=f"{event.id}:contact")
        self._save(record, {**state, "customer": customer, "sent": body})
        return record.external_id

    # --- invoices and payments

    def _payment_seen(self, event: Event, payment: dict) -> None:
        if not payment.get("invoice") or payment.get("status") != "succeeded":
            return
        record = self._record("invoice", payment["invoice"])
        state = dict(record.state or {})
        if not state.get("payment"):  # the one that paid it (a later capture on a paid invoice is refunded)
            state["payment"] = {
                "id": payment.get("id") or "",
                "amount": str(_amount(payment.get("amount"))),
                "date": _day(payment.get("captured_at") or payment.get("created_at")),
            }
        self._save(record, state)
        if record.external_id:
            self._pay(record, state, event)

    def _invoice_paid(self, event: Event, invoice: dict) -> None:
        if not invoice.get("id"):
            return
        record = self._record("invoice", invoice["id"])
        state = dict(record.state or {})
        if not record.external_id:
            customer_id = invoice.get("customer") or event.customer_id
            codes = self._line_codes(invoice, event)
            contact_id = self._contact(customer_id, event)
            inclusive = bool(invoice.get("tax_inclusive"))
            day = _day(invoice.get("finalized_at") or invoice.get("created_at"))
            body = {
                "Type": "ACCREC",
                "Contact": {"ContactID": contact_id},
                "InvoiceNumber": invoice.get("number") or invoice["id"],
                "Reference": invoice["id"],
                "Date": day,
                "DueDate": day,
                "CurrencyCode": invoice.get("currency") or "",
                "Status": "AUTHORISED",
                "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
                "LineItems": [
                    _line_item(line, codes[index], inclusive) for index, line in enumerate(invoice.get("lines") or [])
                ],
            }
            record.external_id = self.client.invoice_create(invoice=body, key=f"{event.id}:invoice")
            state.update(
                number=body["InvoiceNumber"],
                total=str(_amount(invoice.get("total"))),
                inclusive=inclusive,
                lines=codes,
                paid="0",
                credited="0",
            )
            self._save(record, state)
        self._pay(record, state, event)

    def _pay(self, record: ConnectorRecord, state: dict, event: Event) -> None:
        """The invoice's payment in Xero, once: into the bank/clearing account, our payment id as reference."""
        payment = state.get("payment")
        if not payment or state.get("payment_sent") or Decimal(payment["amount"]) <= 0:
            return
        body = {
            "Invoice": {"InvoiceID": record.external_id},
            "Account": {"Code": self.mapping.payment_account()},
            "Date": payment["date"],
            "Amount": Decimal(payment["amount"]),
            "Reference": payment["id"],
        }
        state["payment_sent"] = self.client.payment_create(payment=body, key=f"{event.id}:payment")
        state["paid"] = str(Decimal(state.get("paid") or "0") + Decimal(payment["amount"]))
        self._save(record, state)

    def _line_codes(self, invoice: dict, event: Event) -> list[dict]:
        """The AccountCode and TaxType of each of the invoice's lines (VendorError naming what is not mapped)."""
        plan_code = self._plan_code(invoice, event)
        tax_status = invoice.get("tax_status") or "not_registered"
        breakdown = invoice.get("tax_breakdown") or []
        country = (breakdown[0].get("country") if breakdown else "") or ""
        return [
            {
                "account_code": self.mapping.account_code(plan_code),
                "tax_type": self.mapping.tax_type(
                    tax_status=tax_status, country=country, rate=Decimal(line.get("tax_rate") or "0")
                ),
            }
            for line in invoice.get("lines") or []
        ]

    def _plan_code(self, invoice: dict, event: Event) -> str:
        """The plan an invoice was for: the subscription event that names it (renewals, upgrades,
        failed renewals); else the plan whose name the first line starts with (a first payment,
        a pass); "" when neither tells."""
        linked = (
            Event.objects.filter(customer_id=event.customer_id, payload__invoice=invoice["id"])
            .filter(type__startswith="subscription.")
            .order_by("created_at", "id")
            .only("payload")
            .first()
        )
        plan_id = ((linked.payload or {}).get("subscription") or {}).get("plan") if linked else None
        if plan_id:
            record = record_find(connector=self.connector, object_type="plan", object_id=plan_id)
            plan = record.state if record is not None else latest_plan_payload(plan_id)
            if plan and plan.get("code"):
                return plan["code"]
        description = ((invoice.get("lines") or [{}])[0].get("description") or "").strip()
        named = [
            (record.state.get("name") or "", record.state.get("code") or "")
            for record in ConnectorRecord.objects.filter(connector=self.connector, object_type="plan").only("state")
        ]
        fits = [(name, code) for name, code in named if name and code and description.startswith(name)]
        return max(fits, key=lambda fit: len(fit[0]))[1] if fits else ""  # the longest name that fits

    # --- credit notes

    def _credit_note_created(self, event: Event, note: dict) -> None:
        if not note.get("id"):
            return
        record = self._record("credit_note", note["id"])
        state = dict(record.state or {})
        invoice_record = record_find(
            connector=self.connector, object_type="invoice", object_id=note.get("invoice") or ""
        )
        invoice_state = dict(invoice_record.state or {}) if invoice_record is not None else {}
        total = _amount(note.get("total"))
        if not record.external_id:
            contact_id = self._contact(event.customer_id, event)
            codes = invoice_state.get("lines") or self._invoice_codes_from_outbox(note, event)
            inclusive = bool(invoice_state.get("inclusive"))
            body = {
                "Type": "ACCRECCREDIT",
                "Contact": {"ContactID": contact_id},
                "CreditNoteNumber": note.get("number") or note["id"],
                "Reference": invoice_state.get("number") or note.get("invoice") or "",
                "Date": _day(note.get("created_at")),
                "CurrencyCode": note.get("currency") or "",
                "Status": "AUTHORISED",
                "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
                "LineItems": [_credit_line_item(line, codes, inclusive) for line in note.get("lines") or []],
            }
            record.external_id = self.client.credit_note_create(credit_note=body, key=f"{event.id}:credit-note")
            self._save(record, state)
        # What the invoice still owes in Xero takes the credit; the rest went back to the card.
        allocated = Decimal(state.get("allocated") or "0")
        if invoice_record is not None and invoice_record.external_id and "allocated" not in state:
            owed = Decimal(invoice_state.get("total") or "0") - Decimal(invoice_state.get("paid") or "0")
            owed -= Decimal(invoice_state.get("credited") or "0")
            allocated = max(Decimal(0), min(owed, total))
            if allocated:
                allocation = {
                    "Invoice": {"InvoiceID": invoice_record.external_id},
                    "Amount": allocated,
                    "Date": _day(note.get("created_at")),
                }
                self.client.allocation_create(
                    credit_note_id=record.external_id, allocation=allocation, key=f"{event.id}:allocation"
                )
                invoice_state["credited"] = str(Decimal(invoice_state.get("credited") or "0") + allocated)
                self._save(invoice_record, invoice_state)
            state["allocated"] = str(allocated)
            self._save(record, state)
        refund = total - allocated
        if refund > 0 and not state.get("refund_sent"):
            body = {
                "CreditNote": {"CreditNoteID": record.external_id},
                "Account": {"Code": self.mapping.payment_account()},
                "Date": _day(note.get("created_at")),
                "Amount": refund,
                "Reference": note.get("refund") or note["id"],
            }
            state["refund_sent"] = self.client.payment_create(payment=body, key=f"{event.id}:refund")
            self._save(record, state)

    def _invoice_codes_from_outbox(self, note: dict, event: Event) -> list[dict]:
        """The line codes of a credit note's invoice that this connector never sent (it was paid
        before the connector's events begin): mapped now from the invoice as the outbox shows it."""
        found = (
            Event.objects.filter(customer_id=event.customer_id, type__startswith="invoice.")
            .filter(payload__invoice__id=note.get("invoice"))
            .order_by("-created_at", "-id")
            .only("payload")
            .first()
        )
        if found is None:
            raise VendorError(
                f"Credit note {note.get('number') or note['id']} is for invoice {note.get('invoice')}, which neither "
                "Xero nor the outbox holds any more: enter it in Xero by hand, then reset the connector's back-off."
            )
        return self._line_codes(found.payload["invoice"], event)


def _line_item(line: dict, codes: dict, inclusive: bool) -> dict:
    """Quantity * UnitAmount - DiscountAmount = LineAmount, which includes the tax when the invoice's
    prices do (LineAmountTypes Inclusive) and excludes it otherwise."""
    item = {
        "Description": (line.get("description") or "")[:4000],
        "Quantity": Decimal(line.get("quantity") or 1),
        "UnitAmount": _amount(line.get("unit_amount")),
        "AccountCode": codes["account_code"],
        "TaxType": codes["tax_type"],
        "TaxAmount": _amount(line.get("tax")),
        "LineAmount": _amount(line.get("total") if inclusive else line.get("net")),
    }
    discount = _amount(line.get("discount"))
    if discount:
        item["DiscountAmount"] = discount
    return item


def _credit_line_item(line: dict, codes: list[dict], inclusive: bool) -> dict:
    """A credit note's line: the refunded share of one invoice line, with that line's codes."""
    position = int(line.get("invoice_line") or 1)
    mapped = codes[min(max(position, 1), len(codes)) - 1] if codes else {}
    amount = _amount(line.get("total") if inclusive else line.get("net"))
    return {
        "Description": (line.get("description") or "")[:4000],
        "Quantity": Decimal(1),
        "UnitAmount": amount,
        "AccountCode": mapped.get("account_code", ""),
        "TaxType": mapped.get("tax_type", ""),
        "TaxAmount": _amount(line.get("tax")),
        "LineAmount": amount,
    }
