"""Mailchimp (marketing): one audience member per customer, keyed by the MD5 of the lower-cased
email (Marketing API 3.0), with our facts as merge fields and tags that follow the subscription's
life (trialing, active, past_due, canceled) plus "coupon used".

A small typed client on httpx rather than the mailchimp-marketing SDK: its last release is from
2022; it builds every URL by replacing the word "server" in a fixed https host (a local base URL
works only by overwriting an attribute, and a URL that holds "server" anywhere is mangled); its
ApiClientError keeps the body and the status but drops the headers, so a 429's Retry-After cannot
be read; and an error answered with an empty body is returned as if it had succeeded."""

import hashlib
import logging
import re
from dataclasses import dataclass

import httpx
from django.utils import timezone

from integrations.connectors.base import VendorError, VendorUnauthorized, rate_limited
from integrations.connectors.facts import CustomerFacts, CustomerFactsReader
from integrations.kernel.errors import InvalidRequest
from integrations.models import Connector, ConnectorRecord, Event

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15
USER_NAME = "mediamanager"  # Basic auth: Mailchimp takes any user name, the API key is the password
STATUSES_IF_NEW = ("transactional", "subscribed")
DEFAULT_STATUS_IF_NEW = "transactional"  # paying is no consent to marketing
# An existing member's status that a changed email keeps (the same person at a new address).
CARRIED_STATUSES = ("subscribed", "unsubscribed", "transactional")

# Merge tags (at most 10 characters, upper case) besides Mailchimp's own FNAME and LNAME: the
# operator creates them in the audience (Audience > Settings > Audience fields and merge tags).
MERGE_FIELDS = {
    "MMCUSTID": "our customer id (cus_...)",
    "MMSTATUS": "subscription status (trialing, active, past_due, canceled, ...; none without one)",
    "MMPLAN": "the plan's code",
    "MMMRR": "monthly recurring revenue (a decimal, e.g. 9.99; 0 in a trial)",
    "MMCURRENCY": "the currency of MMMRR and MMLTV (EUR)",
    "MMTRIALEND": "the trial's end, a date (YYYY-MM-DD), blank without a trial",
    "MMLTV": "lifetime value: paid invoices less refunds (a decimal)",
    "MMCOUNTRY": "billing country (ISO 3166-1 alpha-2)",
}
LIFECYCLE_TAGS = ("trialing", "active", "past_due", "canceled")
COUPON_TAG = "coupon used"
_LIFECYCLE_OF = {"trialing": "trialing", "active": "active", "past_due": "past_due", "canceled": "canceled"}
_LIFECYCLE_OF["ended"] = "canceled"  # fixed cycles done: a former subscriber, as a canceled one

# 400s that refuse one member for good (or until they act themselves): recorded on the customer's
# record and skipped, so one member cannot hold the whole audience back.
MEMBER_REFUSALS = ("Member In Compliance State", "Forgotten Email Not Subscribed")

_DATA_CENTER = re.compile(r"^[a-z]{2,5}[0-9]{1,4}$")
_LIST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_EMAIL = re.compile(r"[^\s@\"']+@[^\s@\"']+")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased email, in hex."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def base_url_for(*, api_key: str, base_url: str = "") -> str:
    """`base_url` when set (tests point it at a local server), else the data center the key ends in
    (`...-us21` → https://us21.api.mailchimp.com/3.0)."""
    if base_url:
        return base_url.rstrip("/")
    _, dash, data_center = api_key.rpartition("-")
    if not dash or not _DATA_CENTER.match(data_center):
        raise VendorUnauthorized(
            "The Mailchimp API key does not end in its data center (like ...-us21): copy the whole key "
            "from Mailchimp (Profile > Extras > API keys), or set the base URL."
        )
    return f"https://{data_center}.api.mailchimp.com/3.0"


def settings_check(settings: dict, *, enabled: bool) -> None:
    """The audience (`list_id`) is required to enable; `status_if_new` is transactional or subscribed."""
    list_id = str(settings.get("list_id") or "")
    if list_id and not _LIST_ID.match(list_id):
        raise InvalidRequest(
            "The audience id (list_id) is letters and digits: Audience > Settings > Audience name and defaults.",
            code="parameter_invalid",
            param="list_id",
        )
    if enabled and not list_id:
        raise InvalidRequest(
            "Set list_id, the Mailchimp audience to keep up to date (Audience > Settings > Audience name "
            "and defaults: Audience ID), before enabling the connector.",
            code="parameter_missing",
            param="list_id",
        )
    status = settings.get("status_if_new") or DEFAULT_STATUS_IF_NEW
    if status not in STATUSES_IF_NEW:
        raise InvalidRequest(
            "The status of new members (status_if_new) is transactional (the default: a paying customer "
            "has not opted into marketing) or subscribed.",
            code="parameter_invalid",
            param="status_if_new",
        )


# --- The client ----------------------------------------------------------------------------------


def _redacted(text: str) -> str:
    """Mailchimp's details often name the member's email: not for the admin's error column."""
    return _EMAIL.sub("<email>", text)


@dataclass(frozen=True)
class Problem:
    """Mailchimp's error body (application/problem+json)."""

    status: int
    title: str
    detail: str
    fields: tuple[str, ...] = ()  # the `errors[].field` of an Invalid Resource

    @classmethod
    def of(cls, response: httpx.Response) -> "Problem":
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        fields = tuple(str(e.get("field", "")) for e in errors if isinstance(e, dict) and e.get("field"))
        return cls(
            status=response.status_code,
            title=str(body.get("title") or response.reason_phrase or "")[:200],
            detail=_redacted(str(body.get("detail") or ""))[:300],
            fields=fields,
        )


class MemberRefused(VendorError):
    """Mailchimp refuses this one member for good (compliance state, permanently deleted)."""

    def __init__(self, problem: Problem):
        super().__init__(f"Mailchimp refused the member ({problem.status} {problem.title}): {problem.detail}")
        self.problem = problem


@dataclass(frozen=True)
class Member:
    id: str  # the subscriber hash
    status: str  # subscribed, unsubscribed, cleaned, pending, transactional, archived


class MailchimpClient:
    """Audience members, their tags and their deletion, with an API key (HTTP Basic)."""

    def __init__(self, *, api_key: str, base_url: str, timeout: float = TIMEOUT_SECONDS):
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            follow_redirects=False,
            auth=(USER_NAME, api_key),
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, what: str, body: dict | None = None) -> httpx.Response:
        """`what` names the call in errors without the member's hash ("PUT member of list abc")."""
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise VendorError(f"Mailchimp could not be reached ({type(error).__name__}) on {what}") from None
        if response.status_code == 401:
            raise VendorUnauthorized(
                f"Mailchimp refused the API key (401 {Problem.of(response).title}) on {what}: it is invalid, "
                "revoked or of another data center. Enter a current key."
            )
        if response.status_code == 429:
            raise rate_limited("Mailchimp", response, what)
        if response.status_code == 400:
            problem = Problem.of(response)
            if problem.title in MEMBER_REFUSALS:
                raise MemberRefused(problem)
        return response

    @staticmethod
    def _refused(response: httpx.Response, what: str, hint: str = "") -> VendorError:
        problem = Problem.of(response)
        fields = f" (fields: {', '.join(problem.fields)})" if problem.fields else ""
        detail = f"{problem.detail}{fields}" or "no detail"
        return VendorError(f"Mailchimp answered {problem.status} {problem.title} to {what}: {detail}{hint}")

    @staticmethod
    def _member_path(list_id: str, member_hash: str) -> str:
        return f"/lists/{list_id}/members/{member_hash}"

    def member_get(self, *, list_id: str, member_hash: str) -> Member | None:
        """The member as Mailchimp holds it now; None when it has none (404)."""
        what = f"GET member of list {list_id}"
        response = self._call("GET", self._member_path(list_id, member_hash), what)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response, what)
        return self._member(response, member_hash, what)

    @staticmethod
    def _member(response: httpx.Response, member_hash: str, what: str) -> Member:
        try:
            answer = response.json()
            return Member(id=str(answer.get("id") or member_hash), status=str(answer.get("status") or ""))
        except (ValueError, AttributeError):
            raise VendorError(f"Mailchimp's answer to {what} is not a member") from None

    def member_put(self, *, list_id: str, member_hash: str, body: dict) -> Member:
        """Add or update the member (PUT: its status stays when it exists, else status_if_new)."""
        what = f"PUT member of list {list_id}"
        response = self._call("PUT", self._member_path(list_id, member_hash), what, body)
        if response.status_code == 404:
            raise self._refused(response, what, ". Check the audience id (list_id).")
        if response.status_code != 200:
            raise self._refused(response, what)
        return self._member(response, member_hash, what)

    def member_tags(self, *, list_id: str, member_hash: str, tags: list[tuple[str, bool]]) -> None:
        what = f"POST tags of a member of list {list_id}"
        body = {"tags": [{"name": name, "status": "active" if on else "inactive"} for name, on in tags]}
        response = self._call("POST", f"{self._member_path(list_id, member_hash)}/tags", what, body)
        if response.status_code != 204:
            raise self._refused(response, what)

    def member_archive(self, *, list_id: str, member_hash: str) -> None:
        """DELETE: Mailchimp archives the member (history kept, restorable); gone already is fine."""
        what = f"DELETE (archive) member of list {list_id}"
        response = self._call("DELETE", self._member_path(list_id, member_hash), what)
        if response.status_code not in (204, 404):
            raise self._refused(response, what)

    def member_delete_permanent(self, *, list_id: str, member_hash: str) -> None:
        """Erase the member and its history for good; gone already is fine."""
        what = f"POST delete-permanent of a member of list {list_id}"
        response = self._call("POST", f"{self._member_path(list_id, member_hash)}/actions/delete-permanent", what)
        if response.status_code not in (204, 404):
            raise self._refused(response, what)


# --- The mapping ---------------------------------------------------------------------------------


def merge_fields(facts: CustomerFacts) -> dict[str, str]:
    return {
        "FNAME": facts.first_name,
        "LNAME": facts.last_name,
        "MMCUSTID": facts.customer_id,
        "MMSTATUS": facts.status,
        "MMPLAN": facts.plan,
        "MMMRR": str(facts.mrr),
        "MMCURRENCY": facts.currency,
        "MMTRIALEND": facts.trial_end[:10],
        "MMLTV": str(facts.lifetime_value),
        "MMCOUNTRY": facts.country,
    }


def lifecycle_tag(status: str) -> str | None:
    """The one lifecycle tag a status shows; None (all four inactive) without a subscription, or
    while it is incomplete or paused."""
    return _LIFECYCLE_OF.get(status)


class MailchimpHandler:
    """One run's mapping. Per customer (their record's state): `sent`, the member body Mailchimp
    shows; `tags`, the lifecycle tag and coupon tag it shows; `member_status`; `archived`, hashes of
    former addresses; `refused`, Mailchimp's last permanent refusal of the member. Only what changed
    is sent."""

    def __init__(self, connector: Connector):
        api_key = (connector.credentials or {}).get("api_key", "")
        if not api_key:
            raise VendorUnauthorized("No Mailchimp API key is set: enter the key (Profile > Extras > API keys).")
        settings = connector.settings or {}
        self.list_id = str(settings.get("list_id") or "")
        if not self.list_id:
            raise VendorError("No Mailchimp audience is set: enter its id as list_id.")
        self.status_if_new = settings.get("status_if_new") or DEFAULT_STATUS_IF_NEW
        base_url = base_url_for(api_key=api_key, base_url=settings.get("base_url") or "")
        self.client = MailchimpClient(api_key=api_key, base_url=base_url)
        self.reader = CustomerFactsReader(connector)

    def close(self) -> None:
        self.client.close()

    def handle(self, event: Event) -> None:
        seen = self.reader.observe(event)
        if seen is None:
            return
        record, state = seen.record, seen.state
        if seen.erased:
            self._erase(record)
            record.state, record.external_id = state, ""
        else:
            facts = self.reader.facts(record.object_id, state)
            if facts.email:
                self._sync(record, state, facts)
            record.state = state
        record.save(update_fields=["state", "external_id", "updated_at"])

    def _sync(self, record: ConnectorRecord, state: dict, facts: CustomerFacts) -> None:
        member_hash = subscriber_hash(facts.email)
        body = {"email_address": facts.email, "merge_fields": merge_fields(facts)}
        former = record.external_id if record.external_id and record.external_id != member_hash else ""
        if (state.get("refused") or {}).get("hash") == member_hash and body == state.get("sent"):
            return  # refused for good, and nothing new to try
        changed = body != state.get("sent") or former
        if changed and not self._put(record, state, member_hash, body, former=former):
            return
        self._tag(state, member_hash, facts)

    def _put(self, record: ConnectorRecord, state: dict, member_hash: str, body: dict, *, former: str) -> bool:
        """The member added or updated; a changed email moves to a member of its own (with the old
        one's status as Mailchimp holds it now: they may have opted in or out there since) and
        archives the old one. False when Mailchimp refused the member."""
        status = ""
        if former:
            old = self.client.member_get(list_id=self.list_id, member_hash=former)
            status = old.status if old is not None else ""
        status_if_new = status if status in CARRIED_STATUSES else self.status_if_new
        try:
            member = self.client.member_put(
                list_id=self.list_id, member_hash=member_hash, body={**body, "status_if_new": status_if_new}
            )
        except MemberRefused as refused:
            # Recorded and skipped: tried again once something the member shows changes.
            state["sent"] = body
            state["refused"] = {
                "hash": member_hash,
                "title": refused.problem.title,
                "detail": refused.problem.detail,
                "at": timezone.now().isoformat(),
            }
            logger.warning(
                "Mailchimp refused the member of customer %s (%s): skipped", record.object_id, refused.problem.title
            )
            return False
        if former:
            self.client.member_archive(list_id=self.list_id, member_hash=former)
            state["archived"] = sorted({*state.get("archived", []), former} - {member_hash})
            state.pop("tags", None)  # the new member has none of the old one's tags
        state.pop("refused", None)
        state["sent"], state["member_status"] = body, member.status
        record.external_id = member_hash
        return True

    def _tag(self, state: dict, member_hash: str, facts: CustomerFacts) -> None:
        shown = state.get("tags") or {}
        lifecycle = lifecycle_tag(facts.status)
        tags = []
        if lifecycle != shown.get("lifecycle"):
            tags += [(name, name == lifecycle) for name in LIFECYCLE_TAGS]
        if facts.coupon_used and not shown.get("coupon"):
            tags.append((COUPON_TAG, True))
        if not tags:
            return
        self.client.member_tags(list_id=self.list_id, member_hash=member_hash, tags=tags)
        state["tags"] = {"lifecycle": lifecycle, "coupon": facts.coupon_used}

    def _erase(self, record: ConnectorRecord) -> None:
        """Every member this customer was (now, at former addresses, refused) deleted for good."""
        known = record.state or {}
        hashes = {record.external_id, *known.get("archived", []), (known.get("refused") or {}).get("hash")}
        for member_hash in sorted(h for h in hashes if h):
            self.client.member_delete_permanent(list_id=self.list_id, member_hash=member_hash)
