"""HubSpot (CRM): one contact per customer, upserted by email through the CRM v3 objects API, with
the facts of their subscription (status, plan, MRR, trial end) and their lifetime value.

A small typed client on httpx rather than the hubspot-api-client SDK: the SDK's generated API
classes each carry their own host configuration, so pointing them at a local server means reaching
into generated internals per API; the three calls we need are plain JSON, and we want 401 and
429/Retry-After in our own hands."""

from dataclasses import dataclass

import httpx

from integrations.connectors.base import VendorError, VendorUnauthorized, rate_limited
from integrations.connectors.facts import CustomerFacts, CustomerFactsReader
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
            raise rate_limited("HubSpot", response, f"{method} {path}")
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


# --- The handler ---------------------------------------------------------------------------------


def contact_properties(facts: CustomerFacts) -> dict[str, str]:
    return {
        "email": facts.email,
        "firstname": facts.first_name,
        "lastname": facts.last_name,
        "country": facts.country,
        "mm_customer_id": facts.customer_id,
        "mm_subscription_status": facts.status,
        "mm_plan": facts.plan,
        "mm_mrr": str(facts.mrr),
        "mm_currency": facts.currency,
        "mm_trial_end": facts.trial_end,
        "mm_lifetime_value": str(facts.lifetime_value),
    }


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
        self.reader = CustomerFactsReader(connector)

    def close(self) -> None:
        self.client.close()

    def handle(self, event: Event) -> None:
        seen = self.reader.observe(event)
        if seen is None:
            return
        record, state = seen.record, seen.state
        if seen.erased:
            if record.external_id:
                self.client.contact_gdpr_delete(contact_id=record.external_id)
            record.state, record.external_id = state, ""
            record.save(update_fields=["state", "external_id", "updated_at"])
            return
        properties = contact_properties(self.reader.facts(record.object_id, state))
        if state.get("email") and properties != state.get("sent"):
            record.external_id = self._send(record.external_id, state["email"], properties)
            state["sent"] = properties
        record.state = state
        record.save(update_fields=["state", "external_id", "updated_at"])

    def _send(self, contact_id: str, email: str, properties: dict[str, str]) -> str:
        """Updates reach the contact we made (its HubSpot id, so a changed email follows it); the
        first send, or one whose contact HubSpot no longer has, upserts by email."""
        if contact_id and self.client.contact_update(contact_id=contact_id, properties=properties) is not None:
            return contact_id
        return self.client.contact_upsert(email=email, properties=properties).id
