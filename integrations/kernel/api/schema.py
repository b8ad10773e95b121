"""OpenAPI description of the bearer credentials."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
