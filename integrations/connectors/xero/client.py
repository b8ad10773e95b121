"""A small typed client for Xero's Accounting API 2.0 and its token endpoint."""

import json
from datetime import timedelta
from decimal import Decimal

import httpx
from django.utils import timezone

from integrations.connectors.base import (
    VendorError,
    VendorRateLimited,
    VendorUnauthorized,
    rate_limited,
    retry_after_seconds,
)
from integrations.connectors.xero.tokens import Tokens, XeroTokenStore

DEFAULT_BASE_URL = "https://api.xero.com/api.xro/2.0"
DEFAULT_TOKEN_URL = "https://identity.xero.com/connect/token"
TIMEOUT_SECONDS = 15
REFRESH_AHEAD = timedelta(minutes=1)  # refresh an access token that expires within this


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
        self._store.flush()

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
            limited = rate_limited("Xero", response, f"{method} {path}")
            problem = response.headers.get("X-Rate-Limit-Problem", "")[:20]
            if problem:  # minute, day or concurrent: which of Xero's limits was hit
                limited = VendorRateLimited(f"{limited.message} ({problem} limit)", retry_after=limited.retry_after)
            raise limited
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
