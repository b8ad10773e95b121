"""Secrets at rest, encrypted with FIELD_ENCRYPTION_KEY (Fernet): gateway credentials
(EncryptedJSONField) and the stored answers of idempotent requests (sealed bytes).

FIELD_ENCRYPTION_KEY is a comma-separated list for rotation: the first key encrypts, every key
decrypts; `manage.py reencrypt_secrets` rewrites what is stored under the first key, after which
the old keys can be dropped."""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.functions import Cast

WRONG_KEY = "Stored secrets cannot be decrypted with FIELD_ENCRYPTION_KEY: wrong key, or an old key dropped too soon?"


def encryption_keys() -> list[str]:
    keys = [key.strip() for key in settings.FIELD_ENCRYPTION_KEY.split(",") if key.strip()]
    if keys:
        return keys
    if not settings.DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set to store secrets.")
    # Development only: a key derived from SECRET_KEY so `make run` needs no setup.
    return [base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()]


def fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in encryption_keys()])


def _decrypted(token: bytes) -> bytes:
    try:
        return fernet().decrypt(token)
    except InvalidToken:
        raise ImproperlyConfigured(WRONG_KEY) from None


# --- Dicts in a text column: gateway credentials.


class EncryptedJSONField(models.TextField):
    """A dict stored as a Fernet token; the database never sees the plain text."""

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return json.loads(_decrypted(value.encode()))

    def get_prep_value(self, value):
        return fernet().encrypt(json.dumps(value or {}, sort_keys=True).encode()).decode()


# --- Bytes in a binary column: the stored answers of idempotent requests.

_SEALED = b"fernet:"


def sealed(data: bytes) -> bytes:
    return _SEALED + fernet().encrypt(data)


def opened(stored: bytes) -> bytes:
    if not stored.startswith(_SEALED):
        return stored  # kept by a release before encryption (such records expire within 24 hours)
    return _decrypted(stored[len(_SEALED) :])


# --- Every place a secret is stored: the start-up probe and the re-encryption walk both use it.


def _encrypted_columns():
    """(model, field, token of a raw value or None, raw value of a token) for each place secrets are kept."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedJSONField):
                yield model, field, lambda raw: raw.encode() if raw else None, lambda token: token.decode()
    idempotency = apps.get_model("integrations", "IdempotencyKey")
    yield (
        idempotency,
        idempotency._meta.get_field("body"),
        lambda raw: bytes(raw)[len(_SEALED) :] if raw and bytes(raw).startswith(_SEALED) else None,
        lambda token: _SEALED + token,
    )


def _raw_type(field):
    return models.BinaryField() if isinstance(field, models.BinaryField) else models.TextField()


def _stored_tokens(model, field, as_token, limit=None):
    """(pk, token) of the stored values that are encrypted, read raw (without the field's conversion)."""
    rows = model._default_manager.annotate(_raw=Cast(field.attname, output_field=_raw_type(field))).values_list(
        "pk", "_raw"
    )
    rows = rows.order_by("-pk")[:limit] if limit else rows.order_by("pk").iterator()
    for pk, raw in rows:
        token = as_token(raw)
        if token:
            yield pk, token


def stored_secrets_problem(sample: int = 50) -> str | None:
    """A message when the keys cannot open what is stored (checked at start, before work)."""
    keys = fernet()
    for model, field, as_token, _as_raw in _encrypted_columns():
        for _pk, token in _stored_tokens(model, field, as_token, limit=sample):
            try:
                keys.decrypt(token)
            except InvalidToken:
                return f"{WRONG_KEY} ({model._meta.verbose_name} {field.name})"
    return None


def secrets_reencrypt() -> dict[str, int]:
    """Rewrite every stored secret under the first key; safe to run again (rotation is idempotent)."""
    keys = fernet()
    counts = {}
    for model, field, as_token, as_raw in _encrypted_columns():
        label = f"{model._meta.label}.{field.name}"
        counts[label] = 0
        for pk, token in list(_stored_tokens(model, field, as_token)):
            try:
                rotated = keys.rotate(token)
            except InvalidToken:
                raise ImproperlyConfigured(f"{WRONG_KEY} ({label} of {pk})") from None
            # A raw value: the field's own conversion would encrypt the token again.
            value = models.Value(as_raw(rotated), output_field=_raw_type(field))
            model._default_manager.filter(pk=pk).update(**{field.attname: value})
            counts[label] += 1
    from integrations.kernel.audit import audit_record  # the audit module reads this one's field class

    audit_record(
        action="secrets.reencrypted",
        object_type="encryption_key",
        object_id="",
        changes={"rewritten": [None, sorted([label, count] for label, count in counts.items())]},
    )
    return counts
