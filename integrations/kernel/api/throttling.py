from rest_framework.throttling import SimpleRateThrottle

from integrations.kernel.api.authentication import bearer_from_header, credential_hash


class CredentialRateThrottle(SimpleRateThrottle):
    """A request budget per credential (per client address for unauthenticated calls)."""

    scope = "credential"

    def get_cache_key(self, request, view):
        raw = bearer_from_header(request.META.get("HTTP_AUTHORIZATION"))
        ident = credential_hash(raw) if raw else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
