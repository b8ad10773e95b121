"""A local server shaped like HubSpot's CRM v3 contacts API (on pytest-httpserver): private app
token auth, batch upsert by email, PATCH by id, GDPR delete, HubSpot's error bodies, and faults
to inject (429 with Retry-After, 401). It keeps the contacts and every request it was sent."""

import itertools
import json
import re
import threading
from dataclasses import dataclass, field

from werkzeug import Request, Response

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
CONTACT = re.compile(r"^/crm/v3/objects/contacts/(?P<id>\d+)$")
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"


@dataclass
class Call:
    method: str
    path: str
    authorization: str
    body: dict
    status: int


@dataclass
class HubSpotServer:
    token: str = TOKEN
    contacts: dict[str, dict] = field(default_factory=dict)  # id -> properties
    calls: list[Call] = field(default_factory=list)
    faults: list[tuple[int, dict]] = field(default_factory=list)  # (status, headers) for the next requests
    _ids: itertools.count = field(default_factory=lambda: itertools.count(501))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    prefix: str = ""

    def install(self, httpserver, *, prefix: str = "") -> "HubSpotServer":
        """Serve under `prefix` ("/second": another portal on the same local server)."""
        self.prefix = prefix
        httpserver.expect_request(re.compile(rf"^{prefix}/crm/v3/.*")).respond_with_handler(self.handle)
        self.base_url = httpserver.url_for(prefix or "/").rstrip("/")
        return self

    def fail_next(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.extend([(status, headers)] * times)

    def sent(self, method: str | None = None) -> list[Call]:
        """The requests HubSpot accepted (2xx), in order."""
        return [c for c in self.calls if 200 <= c.status < 300 and (method is None or c.method == method)]

    def by_email(self, email: str) -> tuple[str, dict] | None:
        for contact_id, properties in self.contacts.items():
            if properties.get("email") == email:
                return contact_id, properties
        return None

    # --- HTTP

    @staticmethod
    def _json(status: int, body: dict | None, headers: dict | None = None) -> Response:
        return Response(
            "" if body is None else json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    @staticmethod
    def _error(status: int, category: str, message: str, headers: dict | None = None) -> Response:
        body = {"status": "error", "message": message, "correlationId": "0f2c1d9e", "category": category}
        return HubSpotServer._json(status, body, headers)

    def handle(self, request: Request) -> Response:
        with self._lock:
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                body = None
            path = request.path.removeprefix(self.prefix)
            response = self._answer(request, path, body)
            self.calls.append(
                Call(request.method, path, request.headers.get("Authorization", ""), body, response.status_code)
            )
            return response

    def _answer(self, request: Request, path: str, body) -> Response:
        if self.faults:
            status, headers = self.faults.pop(0)
            if status == 429:
                return self._error(
                    429,
                    "RATE_LIMITS",
                    "You have reached your secondly limit.",
                    {**headers, "X-HubSpot-RateLimit-Max": "100"},
                )
            if status == 401:
                return self._error(401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired.")
            return self._error(status, "INTERNAL_ERROR", "Internal error")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        if request.mimetype != "application/json" or not isinstance(body, dict):
            return self._error(415 if request.mimetype != "application/json" else 400, "VALIDATION_ERROR", "Bad body")
        if request.method == "POST" and path == UPSERT:
            return self._upsert(body)
        if request.method == "POST" and path == GDPR_DELETE:
            self.contacts.pop(str(body.get("objectId")), None)
            return Response(status=204)
        match = CONTACT.match(path)
        if request.method == "PATCH" and match:
            return self._patch(match["id"], body)
        return self._error(404, "OBJECT_NOT_FOUND", "resource not found")

    @staticmethod
    def _valid_properties(properties) -> bool:
        return isinstance(properties, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in properties.items()
        )

    def _upsert(self, body: dict) -> Response:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            return self._error(400, "VALIDATION_ERROR", "inputs is required")
        results = []
        for item in inputs:
            if (
                item.get("idProperty") != "email"
                or not item.get("id")
                or not self._valid_properties(item.get("properties"))
            ):
                return self._error(400, "VALIDATION_ERROR", "Invalid input: idProperty, id and properties are required")
            email = item["id"].lower()
            found = self.by_email(email)
            created = found is None
            contact_id = str(next(self._ids)) if created else found[0]
            properties = {**(found[1] if found else {}), **item["properties"], "email": email}
            self.contacts[contact_id] = properties
            results.append(self._object(contact_id, properties, new=created))
        return self._json(200, {"status": "COMPLETE", "results": results})

    def _patch(self, contact_id: str, body: dict) -> Response:
        if contact_id not in self.contacts:
            return self._error(404, "OBJECT_NOT_FOUND", "resource not found")
        if not self._valid_properties(body.get("properties")):
            return self._error(400, "VALIDATION_ERROR", "properties is required")
        self.contacts[contact_id] = {**self.contacts[contact_id], **body["properties"]}
        return self._json(200, self._object(contact_id, self.contacts[contact_id]))

    @staticmethod
    def _object(contact_id: str, properties: dict, new: bool | None = None) -> dict:
        answer = {
            "id": contact_id,
            "properties": properties,
            "createdAt": "2030-01-01T00:00:00.000Z",
            "updatedAt": "2030-01-01T00:00:00.000Z",
            "archived": False,
        }
        if new is not None:
            answer["new"] = new
        return answer
