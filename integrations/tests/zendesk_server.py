"""A local server shaped like Zendesk's Support API v2 users (on pytest-httpserver): API token auth
(`Basic base64("{email}/token:{token}")`) or an OAuth bearer token, create_or_update by external_id
(else email), show, update, search by external_id, delete and permanent delete, the user fields the
operator defined (values of others are not kept), Zendesk's error bodies (401, 404, 422 with
`details`), and faults to inject: 429 with Retry-After, 401, or an answer lost after the change was
made (a timeout). It keeps the users and every request it was sent."""

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from werkzeug import Request, Response

AGENT_EMAIL = "admin@streaming.example"
API_TOKEN = "zd-api-token-6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"
OAUTH_TOKEN = "zd-oauth-9f1c1b7e2f2d4c3aa0b1"

CREATE_OR_UPDATE = "/api/v2/users/create_or_update.json"
SEARCH = "/api/v2/users/search.json"
USER = re.compile(r"^/api/v2/users/(?P<id>\d+)\.json$")
DELETED_USER = re.compile(r"^/api/v2/deleted_users/(?P<id>\d+)\.json$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The user fields an operator creates for the connector, by key, with their Zendesk type.
USER_FIELDS = {
    "mm_subscription_status": "text",
    "mm_plan": "text",
    "mm_mrr": "decimal",
    "mm_currency": "text",
    "mm_trial_end": "date",
    "mm_lifetime_value": "decimal",
}


def basic(email: str = AGENT_EMAIL, token: str = API_TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()


@dataclass(frozen=True)
class Fault:
    status: int
    headers: dict
    apply_first: bool = False  # carry the request out, then answer `status`
    method: str | None = None  # only a request of this method meets it


@dataclass
class Call:
    method: str
    path: str
    query: dict
    authorization: str
    body: dict | None
    status: int


@dataclass
class ZendeskServer:
    authorizations: tuple[str, ...] = (basic(), f"Bearer {OAUTH_TOKEN}")
    user_fields: dict[str, str] = field(default_factory=lambda: dict(USER_FIELDS))
    users: dict[str, dict] = field(default_factory=dict)  # id -> user
    deleted: dict[str, dict] = field(default_factory=dict)  # soft-deleted users, id -> user
    calls: list[Call] = field(default_factory=list)
    faults: list["Fault"] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(372_001))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    prefix: str = ""

    def install(self, httpserver, *, prefix: str = "") -> "ZendeskServer":
        """Serve under `prefix` ("/later": another Zendesk account on the same local server)."""
        self.prefix = prefix
        httpserver.expect_request(re.compile(rf"^{prefix}/api/v2/.*")).respond_with_handler(self.handle)
        self.base_url = httpserver.url_for(prefix or "/").rstrip("/")
        return self

    def fail_next(
        self, status: int, *, retry_after: str | None = None, times: int = 1, method: str | None = None
    ) -> None:
        """The next requests (of `method`, when given) are refused with `status`, changing nothing."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.extend([Fault(status, headers, apply_first=False, method=method)] * times)

    def lose_next_answer(self, *, method: str | None = None) -> None:
        """The next request (of `method`) is carried out, but answered 504: the client never hears."""
        self.faults.append(Fault(504, {}, apply_first=True, method=method))

    def add_user(self, **user) -> dict:
        """A user that was in Zendesk before the connector (made by an agent or an earlier import)."""
        response = self._create_or_update(user)
        assert response.status_code == 201, response.get_data()
        return json.loads(response.get_data())["user"]

    def sent(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """The requests Zendesk accepted (2xx), in order."""
        return [
            c
            for c in self.calls
            if 200 <= c.status < 300 and (method is None or c.method == method) and (path is None or c.path == path)
        ]

    def by_external_id(self, external_id: str) -> dict | None:
        return next((u for u in self.users.values() if u.get("external_id") == external_id), None)

    def notes_of(self, external_id: str) -> list[str]:
        user = self.by_external_id(external_id)
        return [line for line in (user or {}).get("notes", "").split("\n") if line]

    # --- HTTP

    @staticmethod
    def _json(status: int, body: dict | None, headers: dict | None = None) -> Response:
        return Response(
            "" if body is None else json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    @staticmethod
    def _error(status: int, error: str, description: str = "", details: dict | None = None, headers=None) -> Response:
        body: dict = {"error": error}
        if description:
            body["description"] = description
        if details:
            body["details"] = details
        return ZendeskServer._json(status, body, headers)

    def handle(self, request: Request) -> Response:
        with self._lock:
            raw = request.get_data()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = "unreadable"
            path = request.path.removeprefix(self.prefix)
            response = self._faulty(request, path, body)
            self.calls.append(
                Call(
                    request.method,
                    path,
                    dict(request.args),
                    request.headers.get("Authorization", ""),
                    body if isinstance(body, dict) else None,
                    response.status_code,
                )
            )
            return response

    def _faulty(self, request: Request, path: str, body) -> Response:
        fault = next((f for f in self.faults if f.method in (None, request.method)), None)
        if fault is None:
            return self._answer(request, path, body)
        self.faults.remove(fault)
        status, headers = fault.status, fault.headers
        if fault.apply_first:
            self._answer(request, path, body)
            return self._error(504, "GatewayTimeout", "The request timed out")
        if status == 429:
            return self._error(429, "TooManyRequests", "Rate limit for users exceeded", headers={**headers})
        if status == 401:
            return self._error(401, "Couldn't authenticate you")
        return self._error(status, "InternalError", "Something went wrong", headers={**headers})

    def _answer(self, request: Request, path: str, body) -> Response:
        if request.headers.get("Authorization") not in self.authorizations:
            return self._error(401, "Couldn't authenticate you")
        if request.method in ("POST", "PUT"):
            if request.mimetype != "application/json":
                return self._error(415, "UnsupportedMediaType", "Content-Type must be application/json")
            if not isinstance(body, dict) or not isinstance(body.get("user"), dict):
                return self._error(400, "InvalidEndpoint", 'The request body must be {"user": {...}}')
        if request.method == "POST" and path == CREATE_OR_UPDATE:
            return self._create_or_update(body["user"])
        if request.method == "GET" and path == SEARCH:
            external_id = request.args.get("external_id", "")
            found = [u for u in self.users.values() if external_id and u.get("external_id") == external_id]
            return self._json(200, {"users": found, "next_page": None, "previous_page": None, "count": len(found)})
        match = USER.match(path)
        if match:
            user = self.users.get(match["id"])
            if user is None:
                return self._error(404, "RecordNotFound", "Not found")
            if request.method == "GET":
                return self._json(200, {"user": user})
            if request.method == "PUT":
                invalid = self._invalid(body["user"])
                if invalid:
                    return invalid
                self._apply(user, body["user"])
                return self._json(200, {"user": user})
            if request.method == "DELETE":
                self.deleted[match["id"]] = {**self.users.pop(match["id"]), "active": False}
                return self._json(200, {"user": self.deleted[match["id"]]})
        match = DELETED_USER.match(path)
        if match and request.method == "DELETE":
            if self.deleted.pop(match["id"], None) is None:
                return self._error(404, "RecordNotFound", "Not found")
            return Response(status=204)
        return self._error(404, "InvalidEndpoint", "Not found")

    def _invalid(self, user: dict, *, creating: bool = False) -> Response | None:
        details: dict[str, list] = {}
        if creating and not str(user.get("name") or "").strip():
            details["name"] = [{"description": "Name:  is too short (minimum is 1 character)", "error": "BlankValue"}]
        email = user.get("email")
        if email is not None and not EMAIL.match(str(email)):
            details["email"] = [{"description": f"Email: {email} is not properly formatted", "error": "InvalidFormat"}]
        fields = user.get("user_fields")
        if fields is not None and not isinstance(fields, dict):
            details["user_fields"] = [{"description": "User fields: must be an object", "error": "InvalidValue"}]
        for key, value in (fields or {}).items() if isinstance(fields, dict) else ():
            kind = self.user_fields.get(key)
            if kind is None or value is None:
                continue
            if not isinstance(value, str) or not self._valid(kind, value):
                details[key] = [{"description": f"{key}: {value!r} is not a valid {kind}", "error": "InvalidValue"}]
        if not details:
            return None
        return self._error(422, "RecordInvalid", "Record validation errors", details)

    @staticmethod
    def _valid(kind: str, value: str) -> bool:
        if kind == "decimal":
            try:
                Decimal(value)
            except InvalidOperation:
                return False
            return True
        if kind == "date":
            return bool(DATE.match(value))
        return True

    def _apply(self, user: dict, changes: dict) -> None:
        for key in ("name", "email", "notes", "external_id"):
            if key in changes:
                user[key] = changes[key]
        for key, value in (changes.get("user_fields") or {}).items():
            if key in self.user_fields:  # only fields the operator created hold values
                user["user_fields"][key] = value
        user["updated_at"] = "2030-01-01T00:00:00Z"

    def _create_or_update(self, changes: dict) -> Response:
        external_id = changes.get("external_id")
        user = (self.by_external_id(external_id) if external_id else None) or next(
            (u for u in self.users.values() if changes.get("email") and u.get("email") == changes["email"]), None
        )
        invalid = self._invalid(changes, creating=user is None)
        if invalid:
            return invalid
        if user is not None:
            self._apply(user, changes)
            return self._json(200, {"user": user})
        user_id = next(self._ids)
        user = {
            "id": user_id,
            "url": f"https://example.zendesk.com/api/v2/users/{user_id}.json",
            "name": "",
            "email": None,
            "external_id": None,
            "role": "end-user",
            "active": True,
            "verified": bool(changes.get("skip_verify_email")),
            "notes": "",
            "details": "",
            "user_fields": dict.fromkeys(self.user_fields),
            "created_at": "2030-01-01T00:00:00Z",
        }
        self._apply(user, changes)
        self.users[str(user_id)] = user
        return self._json(201, {"user": user})
