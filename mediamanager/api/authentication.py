"""`Authorization: Bearer <credential>`: an operator API key or a customer token."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from integrations.hashing import secret_hash
from mediamanager.models import ApiKey
from payments.models import CustomerToken
from payments.services import CUSTOMER_TOKEN_PREFIX

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
    if raw.startswith(CUSTOMER_TOKEN_PREFIX):
        token = (
            CustomerToken.objects.select_related("customer")
            .filter(token_hash=credential_hash(raw), expires_at__gt=now)
            .first()
        )
        if token is None:
            return None
        return CustomerPrincipal(customer=token.customer), token
    return None


class BearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        raw = bearer_from_header(header)
        if raw is None:
            raise exceptions.AuthenticationFailed("Use `Authorization: Bearer <API key or customer token>`.")
        resolved = resolve_credential(raw)
        if resolved is None:
            raise exceptions.AuthenticationFailed("The API key or customer token is invalid, revoked or expired.")
        return resolved

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
