"""OpenAPI description of the bearer credentials, and of error answers a route documents."""

import functools

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.kernel.api.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An operator API key (`mmk_...`) for operator routes, or a customer token "
            "(`mmc_...`, minted by POST /api/v1/customers/{id}/tokens) for /api/v1/me/ routes.",
        }


@functools.cache
def _error_serializer():
    """One class for every route (drf-spectacular names components by class)."""
    from rest_framework import serializers

    return inline_serializer(
        "ApiError",
        {
            "error": inline_serializer(
                "ApiErrorBody",
                {
                    "type": serializers.CharField(),
                    "code": serializers.CharField(),
                    "message": serializers.CharField(),
                    "param": serializers.CharField(allow_null=True),
                },
            )
        },
    )


def error_response(description: str) -> OpenApiResponse:
    """An error answer for `extend_schema(responses=...)`: the one error object, and when it comes."""
    return OpenApiResponse(response=_error_serializer(), description=description)


# The header of a 429, for `extend_schema(parameters=[...])`.
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until the limit's window ends and attempts are taken again.",
)
