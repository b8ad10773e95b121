"""Writes for operator API keys."""

from django.db import transaction
from django.utils import timezone

from integrations.kernel.api.authentication import API_KEY_PREFIX
from integrations.kernel.hashing import new_secret, secret_hash
from integrations.kernel.models import ApiKey


def api_key_create(*, name: str) -> tuple[str, ApiKey]:
    """A new operator key. The raw key is returned once; only its hash is stored."""
    name = name.strip()
    if not name:
        raise ValueError("An API key needs a name.")
    raw = new_secret(API_KEY_PREFIX)
    key = ApiKey.objects.create(name=name[:100], prefix=raw[:12], key_hash=secret_hash(raw))
    return raw, key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key
