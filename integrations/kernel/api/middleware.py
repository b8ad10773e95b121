import logging

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotFound
from rest_framework.exceptions import ParseError

from integrations.kernel.api.errors import error_json_response
from integrations.kernel.api.parsing import json_body_loads
from integrations.kernel.errors import InvalidRequest

API_PREFIXES = ("/api/", "/sandbox/")
# Gateways' webhooks answer JSON too, but their bodies are read raw (the signature covers the bytes).
JSON_PREFIXES = (*API_PREFIXES, "/webhooks/")
logger = logging.getLogger("api")


def _is_json(request) -> bool:
    content_type = request.content_type or ""
    return content_type == "application/json" or content_type.endswith("+json")


class ApiMiddleware:
    """API paths (and gateways' webhooks) always answer in the API's error format: oversized bodies
    (413), unknown routes (404), refused methods (405) and crashes outside DRF views (500), with
    DEBUG on as well as off.

    Bad input stops here, before any view or query: a NUL in the URL (PostgreSQL cannot compare
    text holding one) on every path, and on API paths a JSON body that does not parse, nests too
    deep or holds NUL, whether or not the view reads its body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_json = request.path.startswith(JSON_PREFIXES)
        refused = self._url_refused(request, is_json=is_json)
        if refused is not None:
            return refused
        if not is_json:
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_json_response(400, "invalid_content_length", "Content-Length is not a number.")
        if length > settings.API_MAX_BODY_BYTES:
            return error_json_response(
                413, "request_too_large", f"The body is larger than {settings.API_MAX_BODY_BYTES} bytes."
            )
        if length and request.path.startswith(API_PREFIXES) and _is_json(request):
            try:
                json_body_loads(request.body, request.encoding or "utf-8")
            except ParseError as error:
                return error_json_response(400, "invalid_json", f"The request body is not valid JSON: {error.detail}")
            except InvalidRequest as error:
                return error_json_response(400, error.code, error.message, error.param)
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            # Django's own error pages (unknown route, a crash in a middleware, CSRF) become API errors.
            if response.status_code == 404:
                return error_json_response(404, "resource_missing", f"No route {request.path}.")
            if response.status_code == 405:
                return error_json_response(405, "method_not_allowed", f"{request.method} is not allowed here.")
            if response.status_code >= 500:
                return error_json_response(500, "internal_error", "Something went wrong on our side.")
            return error_json_response(response.status_code, "request_refused", "The request was refused.")
        return response

    @staticmethod
    def _url_refused(request, *, is_json: bool):
        if "\x00" in request.path:
            if is_json:
                return error_json_response(404, "resource_missing", "No such object.")
            return HttpResponseNotFound("Not found.")
        try:
            query = request.GET.lists()
        except TooManyFieldsSent:
            if is_json:
                return error_json_response(400, "parameter_invalid", "Too many query parameters.")
            return HttpResponseBadRequest("Too many query parameters.")
        for name, values in query:
            if "\x00" in name or any("\x00" in value for value in values):
                param = name.replace("\x00", "") or None
                if is_json:
                    return error_json_response(
                        400, "parameter_invalid", f"{param or 'A query parameter'} holds a NUL character.", param
                    )
                return HttpResponseBadRequest("A query parameter holds a NUL character.")
        return None

    def process_exception(self, request, exception):
        if not request.path.startswith(JSON_PREFIXES):
            return None
        if isinstance(exception, Http404 | PermissionDenied | SuspiciousOperation | BadRequest):
            return None  # Django answers 404, 403 or 400 for these; __call__ turns that into the error object
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_json_response(500, "internal_error", "Something went wrong on our side.")
