import logging

from django.conf import settings
from django.http import Http404

from integrations.kernel.api.errors import error_json_response

API_PREFIXES = ("/api/", "/sandbox/")
logger = logging.getLogger("api")


class ApiMiddleware:
    """API paths always answer in the API's error format: oversized bodies (413), unknown routes
    (404) and crashes outside DRF views (500), with DEBUG on as well as off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIXES):
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_json_response(400, "invalid_content_length", "Content-Length is not a number.")
        if length > settings.API_MAX_BODY_BYTES:
            return error_json_response(
                413, "request_too_large", f"The body is larger than {settings.API_MAX_BODY_BYTES} bytes."
            )
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            # Django's own error pages (unknown route, a crash in a middleware, CSRF) become API errors.
            if response.status_code == 404:
                return error_json_response(404, "resource_missing", f"No route {request.path}.")
            if response.status_code >= 500:
                return error_json_response(500, "internal_error", "Something went wrong on our side.")
            return error_json_response(response.status_code, "request_refused", "The request was refused.")
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIXES):
            return None
        if isinstance(exception, Http404):  # a plain view's "not found" (the sandbox's pages)
            return error_json_response(404, "resource_missing", f"Nothing at {request.path}.")
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return error_json_response(500, "internal_error", "Something went wrong on our side.")
