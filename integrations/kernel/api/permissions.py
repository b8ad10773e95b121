"""Which kind of credential reaches a route. A view says `audience = "customer"` for `/me` routes;
every other route is for operators. The wrong kind answers 403, none at all 401."""

from rest_framework import permissions

from integrations.kernel.api.authentication import CustomerPrincipal, Operator


class AudiencePermission(permissions.BasePermission):
    def has_permission(self, request, view):
        if getattr(view, "audience", "operator") == "customer":
            self.message, self.code = "This route needs a customer token.", "customer_token_required"
            return isinstance(request.user, CustomerPrincipal)
        self.message, self.code = "This route needs an operator API key.", "operator_key_required"
        return isinstance(request.user, Operator)
