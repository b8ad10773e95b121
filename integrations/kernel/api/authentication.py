"""`Authorization: Bearer <credential>`: an operator API key or a customer token.

The kernel knows API keys; other kinds of credential (payments' customer tokens) are resolved by
the app that issues them, which registers a resolver for its prefix in its AppConfig.ready()."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from integrations.kernel.audit import audit_actor_set
from integrations.kernel.hashing import secret_hash
from integrations.kernel.models import ApiKey

API_KEY_PREFIX = "mmk_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)


credential_hash = secret_hash


@dataclass(frozen=True)
class Operator:
    api_key: object
    is_authenticated: bool = True


@dataclass(frozen=True)
class CustomerPrincipal:
    customer: object
    is_authenticated: bool = True


def bearer_from_header(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# prefix -> resolve(raw credential, its hash) -> (principal, credential row) or None
_resolvers: dict[str, Callable[[str, str], tuple | None]] = {}


def credential_resolver_register(prefix: str, resolve: Callable[[str, str], tuple | None]) -> None:
    _resolvers[prefix] = resolve


def resolve_credential_once(request, raw: str):
    """`resolve_credential`, asked once per request (the idempotency middleware, then DRF)."""
    http_request = getattr(request, "_request", request)
    cached = getattr(http_request, "_credential_resolved", None)
    if cached is not None and cached[0] == raw:
        return cached[1]
    resolved = resolve_credential(raw)
    http_request._credential_resolved = (raw, resolved)
    return resolved


def resolve_credential(raw: str):
    """(principal, credential row) for a raw key or token, or None if it is unknown, revoked or expired."""
    now = timezone.now()
    if raw.startswith(API_KEY_PREFIX):
        key = ApiKey.objects.filter(key_hash=credential_hash(raw), revoked_at__isnull=True).first()
        if key is None:
            return None
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return Operator(api_key=key), key
    for prefix, resolve in _resolvers.items():
        if raw.startswith(prefix):
            return resolve(raw, credential_hash(raw))
    return None


class BearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        raw = bearer_from_header(header)
        if raw is None:
            raise exceptions.AuthenticationFailed("Use `Authorization: Bearer <API key or customer token>`.")
        resolved = resolve_credential_once(request, raw)
        if resolved is None:
            raise exceptions.AuthenticationFailed("The API key or customer token is invalid, revoked or expired.")
        if isinstance(resolved[0], Operator):
            audit_actor_set(resolved[0].api_key)  # what this request changes, the key did
        return resolved

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
