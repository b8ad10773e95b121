"""The API's one error format: `{"error": {"type", "code", "message", "param"}}`, for every error."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from integrations.kernel.errors import DomainError, RateLimited

logger = logging.getLogger("api")

_DRF_CODES = {
    "required": "parameter_missing",
    "null": "parameter_missing",
    "blank": "parameter_missing",
    "invalid": "parameter_invalid",
    "parse_error": "invalid_json",
    "not_authenticated": "not_authenticated",
    "authentication_failed": "invalid_credentials",
    "permission_denied": "permission_denied",
    "not_found": "resource_missing",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "rate_limited",
}


def error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 402:
        return "card_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "api_error"
    return "invalid_request_error"


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict:
    return {"error": {"type": error_type(status), "code": code, "message": message, "param": param}}


def error_json_response(status: int, code: str, message: str, param: str | None = None) -> JsonResponse:
    """For the places outside DRF views (middleware, URL misses, crashes)."""
    return JsonResponse(error_body(status, code, message, param), status=status)


def _first_error(detail, path: str = ""):
    """The first (param, ErrorDetail) of DRF's nested validation errors; param like `prices[0].amount`."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return _first_error(value, path)
            sub = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
            return _first_error(value, sub)
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                # A list of dicts is a ListSerializer's per-item errors; skip items without errors.
                if isinstance(value, dict) and not value:
                    continue
                sub = f"{path}[{index}]" if isinstance(value, dict) else path
                return _first_error(value, sub)
            return path or None, value
    return path or None, detail


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, DomainError):
        set_rollback()
        response = Response(error_body(exc.http_status, exc.code, exc.message, exc.param), status=exc.http_status)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response

    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        param, detail = _first_error(exc.detail)
        raw_code = getattr(detail, "code", None) or "invalid"
        # Field checks (types, lengths, ranges, choices) all answer parameter_invalid.
        code = "parameter_missing" if raw_code in ("required", "null", "blank") else "parameter_invalid"
        message = str(detail)
        if param and code in ("parameter_missing", "parameter_invalid"):
            message = f"{param}: {message}"
        return Response(error_body(400, code, message, param), status=400)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        status = exc.status_code
        codes = exc.get_codes()
        raw_code = codes if isinstance(codes, str) else "error"
        code = _DRF_CODES.get(raw_code, raw_code)
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else exc.default_detail
        if isinstance(exc, exceptions.ParseError):
            code, message = "invalid_json", f"The request body is not valid JSON: {exc.detail}"
        response = Response(error_body(status, code, str(message)), status=status)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait) + 1)
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        return response

    # Anything else is our bug: log it in full, answer without a traceback.
    set_rollback()
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return Response(error_body(500, "internal_error", "Something went wrong on our side."), status=500)
