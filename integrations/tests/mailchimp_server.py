"""A local server shaped like Mailchimp's Marketing API 3.0 (on pytest-httpserver): HTTP Basic auth
with the API key as password, audience members by subscriber hash (PUT add-or-update, archive by
DELETE, permanent delete), member tags, the audience's merge fields, and Mailchimp's
application/problem+json errors: 401 API Key Invalid, 404 Resource Not Found, 400 Invalid Resource,
Member In Compliance State, Forgotten Email Not Subscribed, and faults to inject (429 with or without
Retry-After, 401, 5xx). It keeps the members and every request it was sent."""

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field

from werkzeug import Request, Response

API_KEY = "0123456789abcdef0123456789abcdef-us21"
LIST_ID = "a1b2c3d4e5"
MERGE_TAGS = (
    "FNAME",
    "LNAME",
    "MMCUSTID",
    "MMSTATUS",
    "MMPLAN",
    "MMMRR",
    "MMCURRENCY",
    "MMTRIALEND",
    "MMLTV",
    "MMCOUNTRY",
)
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
ERROR_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"

MEMBER = re.compile(r"^/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})$")
TAGS = re.compile(r"^/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})/tags$")
DELETE_PERMANENT = re.compile(r"^/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})/actions/delete-permanent$")


def md5_of(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


@dataclass
class Call:
    method: str
    path: str  # after /3.0
    authorization: str
    body: dict | None
    status: int


@dataclass
class Member:
    email_address: str
    status: str
    merge_fields: dict = field(default_factory=dict)
    tags: set = field(default_factory=set)
    archived: bool = False


@dataclass
class MailchimpServer:
    api_key: str = API_KEY
    list_ids: set = field(default_factory=lambda: {LIST_ID})
    merge_tags: set = field(default_factory=lambda: set(MERGE_TAGS))
    members: dict[str, Member] = field(default_factory=dict)  # subscriber hash -> member
    forgotten: set = field(default_factory=set)  # hashes permanently deleted: not to be re-imported
    in_compliance: set = field(default_factory=set)  # hashes held in compliance state
    calls: list[Call] = field(default_factory=list)
    faults: list[tuple[int, dict]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    prefix: str = ""

    def install(self, httpserver, *, prefix: str = "") -> "MailchimpServer":
        """Serve under `prefix` + /3.0 ("/second": another account on the same local server)."""
        self.prefix = prefix
        httpserver.expect_request(re.compile(rf"^{prefix}/3\.0/.*")).respond_with_handler(self.handle)
        self.base_url = httpserver.url_for(f"{prefix}/3.0").rstrip("/")
        return self

    def fail_next(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.extend([(status, headers)] * times)

    def sent(self, method: str | None = None) -> list[Call]:
        """The requests Mailchimp accepted (2xx), in order."""
        return [c for c in self.calls if 200 <= c.status < 300 and (method is None or c.method == method)]

    def member(self, email: str) -> Member | None:
        return self.members.get(md5_of(email))

    # --- HTTP

    @staticmethod
    def _problem(status: int, title: str, detail: str, headers: dict | None = None, errors=None) -> Response:
        body = {"type": ERROR_DOC, "title": title, "status": status, "detail": detail, "instance": str(uuid.uuid4())}
        if errors is not None:
            body["errors"] = errors
        return Response(json.dumps(body), status=status, headers=headers, content_type="application/problem+json")

    @staticmethod
    def _json(body: dict) -> Response:
        return Response(json.dumps(body), status=200, content_type="application/json; charset=utf-8")

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            _user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return password == self.api_key

    def handle(self, request: Request) -> Response:
        with self._lock:
            raw = request.get_data()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = "not json"
            path = request.path.removeprefix(self.prefix).removeprefix("/3.0")
            response = self._answer(request, path, body)
            auth = request.headers.get("Authorization", "")
            self.calls.append(Call(request.method, path, auth, body, response.status_code))
            return response

    def _answer(self, request: Request, path: str, body) -> Response:
        if self.faults:
            status, headers = self.faults.pop(0)
            if status == 429:
                return self._problem(
                    429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.", headers
                )
            if status == 401:
                return self._problem(
                    401,
                    "API Key Invalid",
                    "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
                )
            return self._problem(status, "Internal Server Error", "An unexpected internal error has occurred.")
        if not self._authorized(request):
            return self._problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        for pattern, method, answer in (
            (MEMBER, "GET", self._get),
            (MEMBER, "PUT", self._put),
            (MEMBER, "DELETE", self._archive),
            (TAGS, "POST", self._tags),
            (DELETE_PERMANENT, "POST", self._delete_permanent),
        ):
            match = pattern.match(path)
            if match and request.method == method:
                if match["list"] not in self.list_ids:
                    return self._not_found()
                takes_body = method == "PUT" or pattern is TAGS
                if takes_body and (request.mimetype != "application/json" or not isinstance(body, dict)):
                    return self._problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
                return answer(match["hash"], body)
        return self._not_found()

    def _not_found(self) -> Response:
        return self._problem(404, "Resource Not Found", "The requested resource could not be found.")

    def _invalid(self, detail: str, errors: list | None = None) -> Response:
        return self._problem(
            400,
            "Invalid Resource",
            detail,
            errors=errors or [],
        )

    def _put(self, member_hash: str, body: dict) -> Response:
        email = body.get("email_address")
        if not isinstance(email, str) or "@" not in email:
            return self._invalid(
                "The resource submitted could not be validated.",
                [{"field": "email_address", "message": "This value should not be blank."}],
            )
        if md5_of(email) != member_hash:
            return self._invalid(
                "The subscriber hash in the path does not match the email address.",
                [{"field": "email_address", "message": "Subscriber hash mismatch."}],
            )
        if member_hash in self.forgotten:
            return self._problem(
                400,
                "Forgotten Email Not Subscribed",
                f"{email} was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on the list.",
            )
        if member_hash in self.in_compliance:
            return self._problem(
                400,
                "Member In Compliance State",
                f"{email} is already a list member in compliance state due to unsubscribe, bounce, or compliance review.",
            )
        status_if_new = body.get("status_if_new")
        if status_if_new is not None and status_if_new not in STATUSES:
            return self._invalid(
                "The resource submitted could not be validated.",
                [{"field": "status_if_new", "message": "Invalid status."}],
            )
        merge = body.get("merge_fields", {})
        if not isinstance(merge, dict) or not all(isinstance(v, str) for v in merge.values()):
            return self._invalid(
                "Your merge fields were invalid.", [{"field": "merge_fields", "message": "Not an object of strings."}]
            )
        unknown = sorted(set(merge) - self.merge_tags)
        if unknown:
            return self._invalid(
                "Your merge fields were invalid.",
                [{"field": tag, "message": "This merge field does not exist in the audience."} for tag in unknown],
            )
        member = self.members.get(member_hash)
        if member is None or member.archived:
            if status_if_new is None:
                return self._invalid(
                    "The resource submitted could not be validated.",
                    [{"field": "status_if_new", "message": "Required for a new member."}],
                )
            tags = member.tags if member else set()
            member = Member(email_address=email.lower(), status=status_if_new, tags=tags)
            self.members[member_hash] = member
        member.email_address = email.lower()
        member.merge_fields = {**member.merge_fields, **merge}
        return self._json(self._representation(member_hash, member))

    def _get(self, member_hash: str, _body) -> Response:
        member = self.members.get(member_hash)
        if member is None:
            return self._not_found()
        answer = self._representation(member_hash, member)
        return self._json({**answer, "status": "archived" if member.archived else member.status})

    def _representation(self, member_hash: str, member: Member) -> dict:
        return {
            "id": member_hash,
            "email_address": member.email_address,
            "unique_email_id": member_hash[:10],
            "status": member.status,
            "merge_fields": member.merge_fields,
            "tags_count": len(member.tags),
            "tags": [{"id": index, "name": name} for index, name in enumerate(sorted(member.tags), 1)],
            "list_id": LIST_ID,
        }

    def _tags(self, member_hash: str, body: dict) -> Response:
        member = self.members.get(member_hash)
        if member is None or member.archived:
            return self._not_found()
        tags = body.get("tags")
        valid = isinstance(tags, list) and all(
            isinstance(t, dict) and isinstance(t.get("name"), str) and t.get("status") in ("active", "inactive")
            for t in tags
        )
        if not valid:
            return self._invalid(
                "The resource submitted could not be validated.",
                [{"field": "tags", "message": "Each tag is {name, status: active|inactive}."}],
            )
        for tag in tags:
            (member.tags.add if tag["status"] == "active" else member.tags.discard)(tag["name"])
        return Response(status=204)

    def _archive(self, member_hash: str, _body) -> Response:
        member = self.members.get(member_hash)
        if member is None or member.archived:
            return self._not_found()
        member.archived = True
        return Response(status=204)

    def _delete_permanent(self, member_hash: str, _body) -> Response:
        if self.members.pop(member_hash, None) is None:
            return self._not_found()
        self.forgotten.add(member_hash)
        return Response(status=204)
