"""HubSpot (CRM): one contact per customer, upserted by email through the CRM v3 objects API, with
the facts of their subscription (status, plan, MRR, trial end) and their lifetime value.

A small typed client on httpx rather than the hubspot-api-client SDK: the SDK's generated API
classes each carry their own host configuration, so pointing them at a local server means reaching
into generated internals per API; the three calls we need are plain JSON, and we want 401 and
429/Retry-After in our own hands."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import httpx
from dateutil.relativedelta import relativedelta

from integrations.connectors.base import VendorError, VendorRateLimited, VendorUnauthorized, retry_after_seconds
from integrations.connectors.records import latest_customer_payload, latest_plan_payload, record_find, record_for
from integrations.models import Connector, Event

DEFAULT_BASE_URL = "https://api.hubapi.com"
TIMEOUT_SECONDS = 15

# Contact properties we write besides HubSpot's own (email, firstname, lastname, country): the
# operator creates these in HubSpot (Settings > Properties > Contact) before enabling the connector.
CUSTOM_PROPERTIES = (
    "mm_customer_id",
    "mm_subscription_status",
    "mm_plan",
    "mm_mrr",
    "mm_currency",
    "mm_trial_end",
    "mm_lifetime_value",
)

LIVE = ("trialing", "active", "past_due", "paused", "incomplete")
IN_MRR = ("active", "past_due")  # trials are not revenue yet; past due still counts until churn


# --- The client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    id: str
    created: bool


class HubSpotClient:
    """CRM v3 contacts with a private app token (`Authorization: Bearer pat-...`)."""

    def __init__(self, *, access_token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = TIMEOUT_SECONDS):
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise VendorError(f"HubSpot could not be reached ({type(error).__name__}) on {method} {path}") from None
        if response.status_code == 401:
            raise VendorUnauthorized(
                "HubSpot refused the access token (401): it is invalid, revoked or expired. "
                "Enter a private app token with the crm.objects.contacts.write scope."
            )
        if response.status_code == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            waited = f", retry after {retry_after:g}s" if retry_after is not None else ""
            raise VendorRateLimited(f"HubSpot rate limit (429) on {method} {path}{waited}", retry_after=retry_after)
        return response

    @staticmethod
    def _refused(response: httpx.Response, method: str, path: str) -> VendorError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = " ".join(str(body.get(key, "")) for key in ("category", "message") if body.get(key))
        return VendorError(f"HubSpot answered {response.status_code} to {method} {path}: {detail[:300] or 'no detail'}")

    def contact_upsert(self, *, email: str, properties: dict[str, str]) -> Contact:
        """Create or update the contact with this email (batch upsert, idProperty=email)."""
        path = "/crm/v3/objects/contacts/batch/upsert"
        body = {"inputs": [{"idProperty": "email", "id": email, "properties": properties}]}
        response = self._call("POST", path, body)
        if response.status_code not in (200, 201):
            raise self._refused(response, "POST", path)
        try:
            result = response.json()["results"][0]
            return Contact(id=str(result["id"]), created=bool(result.get("new", False)))
        except (ValueError, KeyError, IndexError, TypeError):
            raise VendorError(f"HubSpot's answer to POST {path} holds no contact id") from None

    def contact_update(self, *, contact_id: str, properties: dict[str, str]) -> Contact | None:
        """Update a contact by its HubSpot id; None when HubSpot no longer has it (404)."""
        path = f"/crm/v3/objects/contacts/{contact_id}"
        response = self._call("PATCH", path, {"properties": properties})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response, "PATCH", path)
        return Contact(id=contact_id, created=False)

    def contact_gdpr_delete(self, *, contact_id: str) -> None:
        path = "/crm/v3/objects/contacts/gdpr-delete"
        response = self._call("POST", path, {"objectId": contact_id})
        if response.status_code not in (200, 204, 404):
            raise self._refused(response, "POST", path)


# --- The facts a contact carries, from the payloads seen -----------------------------------------


def _months(interval: str | None, count: int | None) -> Decimal | None:
    count = Decimal(count or 1)
    per = {"day": Decimal(12) / 365, "week": Decimal(12) / 52, "month": Decimal(1), "year": Decimal(12)}
    return per[interval] * count if interval in per else None


def _months_between(start: str | None, end: str | None) -> Decimal | None:
    """A period's length in months, when the plan's interval is not known (no plan event seen)."""
    if not start or not end:
        return None
    begin, finish = datetime.fromisoformat(start), datetime.fromisoformat(end)
    delta = relativedelta(finish, begin)
    months = delta.years * 12 + delta.months
    if months and not delta.days:
        return Decimal(months)
    days = Decimal((finish - begin).total_seconds()) / 86400
    return days * 12 / 365 if days > 0 else None


def monthly_value(sub: dict, plan: dict | None) -> Decimal:
    """What a subscription brings in a month: its price per interval over the interval's months."""
    amount = Decimal(sub["price"]["amount"])
    months = _months(plan.get("interval"), plan.get("interval_count")) if plan else None
    if months is None:
        months = _months_between(sub.get("current_period_start"), sub.get("current_period_end"))
    if not months:
        return Decimal(0)
    return (amount / months).quantize(amount if amount.as_tuple().exponent < 0 else Decimal(1), ROUND_HALF_UP)


def _current(subscriptions: dict[str, dict]) -> dict | None:
    """The subscription a contact shows: the newest live one, else the newest."""
    ordered = sorted(subscriptions.values(), key=lambda sub: (sub["seen"], sub["id"]))
    live = [sub for sub in ordered if sub["status"] in LIVE]
    return (live or ordered or [None])[-1]


# --- The handler ---------------------------------------------------------------------------------

_TRACKED = ("customer.created", "customer.updated", "customer.erased", "invoice.paid", "payment.refunded")


class HubSpotHandler:
    """One run's mapping: each event that changes a contact's facts sends them (once: an event that
    changes nothing HubSpot shows sends nothing)."""

    def __init__(self, connector: Connector):
        self.connector = connector
        token = (connector.credentials or {}).get("access_token", "")
        if not token:
            raise VendorUnauthorized("No HubSpot access token is set: enter the private app token.")
        base_url = (connector.settings or {}).get("base_url") or DEFAULT_BASE_URL
        self.client = HubSpotClient(access_token=token, base_url=base_url)

    def close(self) -> None:
        self.client.close()

    def handle(self, event: Event) -> None:
        payload = event.payload or {}
        if event.type.startswith("plan."):
            self._plan_seen(payload.get("plan") or {})
            return
        if not (event.type in _TRACKED or event.type.startswith("subscription.")):
            return
        customer_id = event.customer_id
        if not customer_id:
            return
        record = record_for(connector=self.connector, object_type="customer", object_id=customer_id)
        state = record.state or {}
        if state.get("erased"):
            return
        state.setdefault("subs", {})
        state.setdefault("lifetime_value", None)
        if "email" not in state:
            self._customer_seen(state, latest_customer_payload(customer_id) or {})

        if event.type == "customer.erased":
            if record.external_id:
                self.client.contact_gdpr_delete(contact_id=record.external_id)
            record.state, record.external_id = {"erased": True}, ""
            record.save(update_fields=["state", "external_id", "updated_at"])
            return
        if event.type.startswith("customer."):
            self._customer_seen(state, payload.get("customer") or {})
        elif event.type.startswith("subscription."):
            self._subscription_seen(state, payload.get("subscription") or {}, event)
        elif event.type == "invoice.paid":
            self._add_value(state, (payload.get("invoice") or {}).get("total"), sign=1)
        elif event.type == "payment.refunded":
            self._add_value(state, (payload.get("refund") or {}).get("amount"), sign=-1)

        properties = self._properties(customer_id, state)
        if state.get("email") and properties != state.get("sent"):
            record.external_id = self._send(record.external_id, state["email"], properties)
            state["sent"] = properties
        record.state = state
        record.save(update_fields=["state", "external_id", "updated_at"])

    # --- state from payloads

    def _plan_seen(self, plan: dict) -> None:
        if not plan.get("id"):
            return
        record = record_for(connector=self.connector, object_type="plan", object_id=plan["id"])
        record.state = {key: plan.get(key) for key in ("code", "name", "interval", "interval_count")}
        record.save(update_fields=["state", "updated_at"])

    def _plan(self, plan_id: str) -> dict | None:
        record = record_find(connector=self.connector, object_type="plan", object_id=plan_id)
        if record is not None:
            return record.state
        return latest_plan_payload(plan_id)

    @staticmethod
    def _customer_seen(state: dict, customer: dict) -> None:
        state["email"] = (customer.get("email") or "").strip().lower()
        for key in ("name", "country", "currency"):
            state[key] = customer.get(key) or ""

    @staticmethod
    def _subscription_seen(state: dict, sub: dict, event: Event) -> None:
        if not sub.get("id"):
            return
        state["subs"][sub["id"]] = {
            "id": sub["id"],
            "status": sub.get("status") or "",
            "plan": sub.get("plan") or "",
            "price": sub.get("price") or {"amount": "0", "currency": ""},
            "current_period_start": sub.get("current_period_start"),
            "current_period_end": sub.get("current_period_end"),
            "trial_end": sub.get("trial_end"),
            "seen": event.created_at.isoformat(),
        }

    @staticmethod
    def _add_value(state: dict, money: dict | None, *, sign: int) -> None:
        if not money or money.get("amount") in (None, ""):
            return
        total = Decimal(state["lifetime_value"]["amount"]) if state["lifetime_value"] else Decimal(0)
        amount = Decimal(money["amount"])
        state["lifetime_value"] = {"amount": str(total + sign * amount), "currency": money.get("currency", "")}

    def _properties(self, customer_id: str, state: dict) -> dict[str, str]:
        first, _, last = (state.get("name") or "").partition(" ")
        current = _current(state["subs"])
        mrr = Decimal(0)
        for sub in state["subs"].values():
            if sub["status"] in IN_MRR:
                mrr += monthly_value(sub, self._plan(sub["plan"]) if sub["plan"] else None)
        plan = self._plan(current["plan"]) if current and current["plan"] else None
        value = state.get("lifetime_value")
        currency = (value or {}).get("currency") or (current or {}).get("price", {}).get("currency") or ""
        return {
            "email": state.get("email", ""),
            "firstname": first,
            "lastname": last,
            "country": state.get("country", ""),
            "mm_customer_id": customer_id,
            "mm_subscription_status": current["status"] if current else "none",
            "mm_plan": ((plan or {}).get("code") or current["plan"]) if current else "",
            "mm_mrr": str(mrr),
            "mm_currency": currency or state.get("currency", ""),
            "mm_trial_end": (current or {}).get("trial_end") or "",
            "mm_lifetime_value": value["amount"] if value else "0",
        }

    def _send(self, contact_id: str, email: str, properties: dict[str, str]) -> str:
        """Updates reach the contact we made (its HubSpot id, so a changed email follows it); the
        first send, or one whose contact HubSpot no longer has, upserts by email."""
        if contact_id and self.client.contact_update(contact_id=contact_id, properties=properties) is not None:
            return contact_id
        return self.client.contact_upsert(email=email, properties=properties).id
