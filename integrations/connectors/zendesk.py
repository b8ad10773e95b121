"""Zendesk (support): one user per customer, created or updated by `external_id` (our `cus_` id)
through the Support API v2 with the facts of their subscription as user fields, and a dated line in
the user's notes (agents see them on the user's profile) when a payment fails or a subscription is
canceled.

A small typed client on httpx rather than an SDK: Zendesk maintains no Python SDK of its own. The
community one (Zenpy, GPL) builds its host from `https://{subdomain}.{domain}` (a local server only
through process-wide ZENPY_FORCE_* environment variables), and on a 429 it sleeps out Retry-After
itself inside the call, which would hold the runner's transaction open; we want the status and
Retry-After in our own hands, and need six plain JSON calls.

Why the user's notes and not a ticket with a private comment: a ticket lands in the agents' queues
(SLAs, views, reports) and a requester on it makes Zendesk's standard triggers email the customer,
while a note is exactly "what an agent should know about this person", seen wherever the user is."""

import base64
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import httpx

from integrations.connectors.base import VendorError, VendorUnauthorized, rate_limited
from integrations.connectors.facts import CustomerFacts, CustomerFactsReader, Seen
from integrations.connectors.records import latest_plan_payload, record_find
from integrations.models import Connector, Event

TIMEOUT_SECONDS = 15

# User fields we write: the operator creates them in Zendesk (Admin Center > People > Configuration >
# User fields) with these keys before enabling the connector. Types in the README.
USER_FIELDS = (
    "mm_subscription_status",
    "mm_plan",
    "mm_mrr",
    "mm_currency",
    "mm_trial_end",
    "mm_lifetime_value",
)

NOTED_EVENTS = ("payment.failed", "subscription.canceled")

CANCEL_REASONS = {
    "customer_request": "the customer's request",
    "operator": "an operator",
    "payment_failed": "payments that failed",
    "trial_ended_without_payment_method": "the trial ended without a card",
    "first_payment_not_completed": "the first payment was never completed",
    "customer_erased": "the customer's erasure",
}

_LONG_NUMBER = re.compile(r"\d[\d -]{10,}\d")  # anything that could be a card number never reaches a note


def api_root(base_url: str) -> str:
    """`https://acme.zendesk.com` (or the same with `/api/v2`) -> `https://acme.zendesk.com/api/v2`."""
    return base_url.rstrip("/").removesuffix("/api/v2") + "/api/v2"


# --- The client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZendeskUser:
    id: str
    created: bool


class ZendeskClient:
    """Support API v2 users with an API token (`Authorization: Basic base64("{email}/token:{token}")`)
    or an OAuth access token (`Authorization: Bearer ...`)."""

    def __init__(
        self,
        *,
        base_url: str,
        email: str = "",
        api_token: str = "",
        access_token: str = "",
        timeout: float = TIMEOUT_SECONDS,
    ):
        if access_token:
            authorization = f"Bearer {access_token}"
        else:
            authorization = "Basic " + base64.b64encode(f"{email}/token:{api_token}".encode()).decode("ascii")
        self._oauth = bool(access_token)
        self._http = httpx.Client(
            base_url=api_root(base_url),
            timeout=timeout,
            follow_redirects=False,
            headers={"Authorization": authorization, "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, body: dict | None = None, params: dict | None = None) -> httpx.Response:
        where = f"{method} /api/v2{path}"
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as error:
            raise VendorError(f"Zendesk could not be reached ({type(error).__name__}) on {where}") from None
        if response.status_code == 401:
            if self._oauth:
                what, fix = "OAuth access token", "Enter a new OAuth access token with the users:write scope."
            else:
                what = "admin email and API token"
                fix = "Enter an admin's email and an API token (Admin Center > Apps and integrations > APIs > Zendesk API)."
            raise VendorUnauthorized(f"Zendesk refused the {what} (401) on {where}: wrong, revoked or expired. {fix}")
        # Zendesk answers 429 over its rate limit, and 503 with Retry-After while it is unavailable.
        if response.status_code == 429 or (response.status_code == 503 and "Retry-After" in response.headers):
            raise rate_limited("Zendesk", response, where)
        return response

    @staticmethod
    def _refused(response: httpx.Response, method: str, path: str) -> VendorError:
        """Zendesk's error body: `{"error", "description", "details": {field: [{"description"}]}}`."""
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        error = body.get("error")
        if isinstance(error, dict):  # some endpoints nest it: {"error": {"title", "message"}}
            error = " ".join(str(error.get(key)) for key in ("title", "message") if error.get(key))
        parts = [str(part) for part in (error, body.get("description")) if part]
        details = body.get("details")
        if isinstance(details, dict):
            for field, problems in details.items():
                for problem in problems if isinstance(problems, list) else [problems]:
                    text = problem.get("description") if isinstance(problem, dict) else problem
                    parts.append(f"{field}: {text}")
        detail = "; ".join(parts)[:500] or "no detail"
        return VendorError(f"Zendesk answered {response.status_code} to {method} /api/v2{path}: {detail}")

    @staticmethod
    def _user_id(response: httpx.Response, method: str, path: str) -> str:
        try:
            return str(int(response.json()["user"]["id"]))
        except (ValueError, KeyError, TypeError):
            raise VendorError(f"Zendesk's answer to {method} /api/v2{path} holds no user id") from None

    def user_create_or_update(self, *, user: dict) -> ZendeskUser:
        """Create the user, or update the one with this external_id (or else this email)."""
        path = "/users/create_or_update.json"
        response = self._call("POST", path, body={"user": user})
        if response.status_code not in (200, 201):
            raise self._refused(response, "POST", path)
        return ZendeskUser(id=self._user_id(response, "POST", path), created=response.status_code == 201)

    def user_show(self, *, user_id: str) -> dict | None:
        """The user as Zendesk has it now; None when it no longer has them (404)."""
        path = f"/users/{user_id}.json"
        response = self._call("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response, "GET", path)
        try:
            user = response.json()["user"]
        except (ValueError, KeyError, TypeError):
            user = None
        if not isinstance(user, dict):  # never taken for a user without notes: they would be overwritten
            raise VendorError(f"Zendesk's answer to GET /api/v2{path} holds no user")
        return user

    def user_notes_update(self, *, user_id: str, notes: str) -> bool:
        """Replace the user's notes; False when Zendesk no longer has the user (404)."""
        path = f"/users/{user_id}.json"
        response = self._call("PUT", path, body={"user": {"notes": notes}})
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._refused(response, "PUT", path)
        return True

    def users_by_external_id(self, *, external_id: str) -> list[str]:
        path = "/users/search.json"
        response = self._call("GET", path, params={"external_id": external_id})
        if response.status_code != 200:
            raise self._refused(response, "GET", path)
        try:
            return [str(int(user["id"])) for user in response.json()["users"]]
        except (ValueError, KeyError, TypeError):
            raise VendorError(f"Zendesk's answer to GET /api/v2{path} holds no users") from None

    def user_delete_permanently(self, *, user_id: str) -> None:
        """Delete the user, then delete the deleted user for good (Zendesk's GDPR erasure); a step
        Zendesk answers 404 to was done already."""
        for path in (f"/users/{user_id}.json", f"/deleted_users/{user_id}.json"):
            response = self._call("DELETE", path)
            if response.status_code not in (200, 204, 404):
                raise self._refused(response, "DELETE", path)


# --- The mapping ---------------------------------------------------------------------------------


def user_fields(facts: CustomerFacts) -> dict[str, str | None]:
    """Decimals as strings (never floats); an empty fact clears its field (null)."""
    return {
        "mm_subscription_status": facts.status,
        "mm_plan": facts.plan or None,
        "mm_mrr": str(facts.mrr),
        "mm_currency": facts.currency or None,
        "mm_trial_end": facts.trial_end[:10] or None,  # a date field: YYYY-MM-DD
        "mm_lifetime_value": str(facts.lifetime_value),
    }


def user_body(facts: CustomerFacts) -> dict:
    user = {
        "external_id": facts.customer_id,
        "name": facts.name or facts.email or facts.customer_id,  # Zendesk requires a name
        "user_fields": user_fields(facts),
        "skip_verify_email": True,  # a customer of ours is not mailed by the help desk for being synced
    }
    if facts.email:
        user["email"] = facts.email
    return user


def _money(money: dict | None) -> str:
    if not isinstance(money, dict) or money.get("amount") in (None, ""):
        return "an unknown amount"
    try:
        amount = Decimal(str(money["amount"]))
    except InvalidOperation:
        return "an unknown amount"
    return f"{amount} {money.get('currency') or ''}".strip()


def _clean(text, limit: int = 160) -> str:
    text = " ".join(str(text or "").split())
    return _LONG_NUMBER.sub("[number removed]", text)[:limit]


def note_marker(event: Event) -> str:
    """What a note's line carries to say which event wrote it (a rerun finds it and adds nothing)."""
    return f"[{event.id}]"


def note_line(event: Event, *, plan_code: str = "") -> str:
    """One dated line for the user's notes: the amount and the decline reason of a failed payment
    (never card data), or the plan and reason of a cancelation; "" for any other event."""
    payload = event.payload or {}
    when = event.created_at.strftime("%Y-%m-%d %H:%M UTC")
    if event.type == "payment.failed":
        payment = payload.get("payment") or {}
        code = _clean(payment.get("decline_code"), 60)
        message = _clean(payment.get("failure_message"))
        reason = f"{code}: {message}" if code and message else code or message or "no reason given"
        what = f"Payment of {_money(payment.get('amount'))} failed ({reason})"
        if payment.get("id"):
            what += f", payment {_clean(payment['id'], 40)}"
    elif event.type == "subscription.canceled":
        sub = payload.get("subscription") or {}
        reason = sub.get("cancel_reason") or ""
        because = CANCEL_REASONS.get(reason) or _clean(reason.replace("_", " "), 60) or "no reason given"
        what = f"Subscription {_clean(sub.get('id'), 40)}"
        if plan_code:
            what += f" ({_clean(plan_code, 60)})"
        what += f" canceled: {because}"
    else:
        return ""
    return f"{when} {what} {note_marker(event)}"


# --- The handler ---------------------------------------------------------------------------------


class ZendeskHandler:
    """One run's mapping: each event that changes what a user's fields show sends them (once: an
    event that changes nothing Zendesk shows sends nothing); a failed payment or a cancelation adds
    its line to the user's notes, unless a line names that event already."""

    def __init__(self, connector: Connector):
        self.connector = connector
        credentials = connector.credentials or {}
        base_url = ((connector.settings or {}).get("base_url") or "").strip()
        if not base_url:
            raise VendorError("No Zendesk address is set: enter https://<subdomain>.zendesk.com as the base URL.")
        access_token = credentials.get("access_token", "")
        email, api_token = credentials.get("email", ""), credentials.get("api_token", "")
        if not access_token and not (email and api_token):
            raise VendorUnauthorized(
                "No Zendesk credentials are set: enter the email of an admin and an API token "
                "(or an OAuth access token)."
            )
        self.client = ZendeskClient(base_url=base_url, email=email, api_token=api_token, access_token=access_token)
        self.reader = CustomerFactsReader(connector)

    def close(self) -> None:
        self.client.close()

    def handle(self, event: Event) -> None:
        seen = self.reader.observe(event)
        if seen is not None and seen.erased:
            self._erase(seen)
            return
        if seen is None and event.type == "payment.failed" and event.customer_id:
            seen = self.reader.known(event.customer_id)
        if seen is None:
            return
        record, state = seen.record, seen.state
        user = user_body(self.reader.facts(record.object_id, state))
        if not record.external_id or user != state.get("sent"):
            record.external_id = self.client.user_create_or_update(user=user).id
            state["sent"] = user
        if event.type in NOTED_EVENTS:
            self._note(record, user, event)
        record.state = state
        record.save(update_fields=["state", "external_id", "updated_at"])

    def _plan_code(self, event: Event) -> str:
        plan_id = ((event.payload or {}).get("subscription") or {}).get("plan") or ""
        if not plan_id:
            return ""
        record = record_find(connector=self.connector, object_type="plan", object_id=plan_id)
        plan = record.state if record is not None else latest_plan_payload(plan_id)
        return (plan or {}).get("code") or plan_id

    def _note(self, record, user: dict, event: Event) -> None:
        """Read the notes, append the event's line unless it is there, write them back. A user
        deleted in Zendesk is made again by external_id and the line goes on the new user."""
        line = note_line(event, plan_code=self._plan_code(event) if event.type.startswith("subscription.") else "")
        for _ in range(2):
            shown = self.client.user_show(user_id=record.external_id)
            if shown is not None:
                notes = str(shown.get("notes") or "")
                if note_marker(event) in notes:
                    return
                written = f"{notes.rstrip()}\n{line}" if notes.strip() else line
                if self.client.user_notes_update(user_id=record.external_id, notes=written):
                    return
            record.external_id = self.client.user_create_or_update(user=user).id
        raise VendorError(f"Zendesk lost user {record.external_id} again while its note was added; retrying later")

    def _erase(self, seen: Seen) -> None:
        """Delete the user for good (the notes go with them) and forget the customer."""
        record = seen.record
        if record.external_id:
            user_ids = [record.external_id]
        else:
            user_ids = self.client.users_by_external_id(external_id=record.object_id)
        for user_id in user_ids:
            self.client.user_delete_permanently(user_id=user_id)
        record.state, record.external_id = seen.state, ""
        record.save(update_fields=["state", "external_id", "updated_at"])
