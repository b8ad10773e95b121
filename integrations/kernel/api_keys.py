"""Writes for operator API keys."""

from django.db import transaction
from django.utils import timezone

from integrations.kernel.api.authentication import API_KEY_PREFIX
from integrations.kernel.audit import audit_record
from integrations.kernel.errors import InvalidRequest
from integrations.kernel.hashing import new_secret, secret_hash
from integrations.kernel.models import ApiKey

# API.md "API key scopes": `read` is every GET; each write scope opens the writes of one area.
SCOPES = (
    "read",
    "customers:write",
    "plans:write",
    "coupons:write",
    "subscriptions:write",
    "payments:write",
    "tax:write",
    "webhooks:write",
    "audit:read",
    "all",
)


def api_key_scopes_normalize(scopes) -> list[str]:
    """Scopes as given (a list, or comma-separated values), checked; none at all = `all`."""
    values = []
    for value in scopes or ():
        values.extend(part.strip() for part in str(value).split(",") if part.strip())
    unknown = [value for value in values if value not in SCOPES]
    if unknown:
        raise InvalidRequest(
            f"Unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}.", code="parameter_invalid", param="scopes"
        )
    return sorted(set(values)) or ["all"]


def api_key_allows(key: ApiKey, scope: str) -> bool:
    scopes = key.scopes or ["all"]  # keys made before scopes existed can do everything, as they could
    return "all" in scopes or scope in scopes


def api_key_create(*, name: str, scopes=None) -> tuple[str, ApiKey]:
    """A new operator key. The raw key is returned once; only its hash is stored."""
    name = name.strip()
    if not name:
        raise ValueError("An API key needs a name.")
    scopes = api_key_scopes_normalize(scopes)
    raw = new_secret(API_KEY_PREFIX)
    key = ApiKey.objects.create(name=name[:100], prefix=raw[:12], key_hash=secret_hash(raw), scopes=scopes)
    return raw, key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    now = timezone.now()
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now):
        audit_record(
            action="api_key.revoked", object_type="api_key", object_id=api_key.pk, changes={"revoked_at": [None, now]}
        )
    api_key.refresh_from_db()
    return api_key


@transaction.atomic
def api_key_rename(*, api_key: ApiKey, name: str) -> ApiKey:
    name = name.strip()[:100]
    if not name:
        raise InvalidRequest("An API key needs a name.", code="parameter_missing", param="name")
    before = ApiKey.objects.select_for_update().values_list("name", flat=True).get(pk=api_key.pk)
    if before != name:
        ApiKey.objects.filter(pk=api_key.pk).update(name=name)
        audit_record(
            action="api_key.updated", object_type="api_key", object_id=api_key.pk, changes={"name": [before, name]}
        )
    api_key.name = name
    return api_key
