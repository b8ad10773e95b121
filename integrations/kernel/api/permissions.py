"""Which kind of credential reaches a route. A view says `audience = "customer"` for `/me` routes;
every other route is for operators. The wrong kind answers 403, none at all 401.

An operator key needs `read` for a GET and the view's `write_scope` for its writes (a write view
that names none needs `all`); without it, 403 `insufficient_scope`."""

from rest_framework import permissions

from integrations.kernel.api.authentication import CustomerPrincipal, Operator
from integrations.kernel.api_keys import api_key_allows


def required_scope(request, view) -> str:
    if request.method in permissions.SAFE_METHODS:
        return getattr(view, "read_scope", "read")
    return getattr(view, "write_scope", "all")


class AudiencePermission(permissions.BasePermission):
    def has_permission(self, request, view):
        if getattr(view, "audience", "operator") == "customer":
            self.message, self.code = "This route needs a customer token.", "customer_token_required"
            return isinstance(request.user, CustomerPrincipal)
        self.message, self.code = "This route needs an operator API key.", "operator_key_required"
        if not isinstance(request.user, Operator):
            return False
        scope = required_scope(request, view)
        self.message, self.code = f"This API key lacks the `{scope}` scope.", "insufficient_scope"
        return api_key_allows(request.user.api_key, scope)
