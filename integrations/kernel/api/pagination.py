import re

from django.core import signing
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from integrations.kernel.errors import InvalidRequest

_LIMIT_RE = re.compile(r"^[0-9]{1,6}$")


def _cursor_invalid() -> InvalidRequest:
    return InvalidRequest(
        "The cursor is not valid; use the `next` URL as given.", code="cursor_invalid", param="cursor"
    )


class ApiCursorPagination(CursorPagination):
    """`{"results": [...], "next": url|null}`, newest first, stable under inserts.

    Cursors are signed (SECRET_KEY) for the list and the ordering they came from: a cursor this
    server did not issue, or one altered, is 400 `cursor_invalid`, never the first page again nor a
    position the database cannot compare. `limit` is 1 to max_page_size, else 400."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100
    cursor_query_description = (
        "Opaque and signed: follow the `next` URL as given (anything else is 400 cursor_invalid)."
    )

    def _salt(self, request) -> str:
        return f"api-cursor:{request.path}:{','.join(self.ordering)}"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _LIMIT_RE.match(raw) or not 1 <= int(raw) <= self.max_page_size:
            raise InvalidRequest(
                f"limit is a whole number from 1 to {self.max_page_size}.", code="parameter_invalid", param="limit"
            )
        return int(raw)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = signing.loads(encoded, salt=self._salt(request))
        except signing.BadSignature:
            raise _cursor_invalid() from None
        offset, reverse, position = tokens.get("o"), tokens.get("r"), tokens.get("p")
        # Signed by us, so these hold; checked anyway so that a leaked signing key cannot crash a list.
        if (
            isinstance(offset, bool)
            or not isinstance(offset, int)
            or not 0 <= offset <= self.offset_cutoff
            or not isinstance(reverse, bool)
            or not (position is None or isinstance(position, str))
        ):
            raise _cursor_invalid()
        return Cursor(offset=offset, reverse=reverse, position=position)

    def encode_cursor(self, cursor):
        tokens = {"o": cursor.offset, "r": cursor.reverse, "p": cursor.position}
        encoded = signing.dumps(tokens, salt=self._salt(self.request), compress=True)
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }
