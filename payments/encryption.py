"""Encryption at rest for gateway credentials (Fernet, keyed by FIELD_ENCRYPTION_KEY)."""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def _fernet() -> Fernet:
    key = settings.FIELD_ENCRYPTION_KEY
    if not key:
        if not settings.DEBUG:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set to store gateway credentials.")
        # Development only: a key derived from SECRET_KEY so `make run` needs no setup.
        key = base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()
    return Fernet(key)


def encrypt(data: dict) -> str:
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ImproperlyConfigured("Gateway credentials cannot be decrypted: wrong FIELD_ENCRYPTION_KEY?") from None


class EncryptedJSONField(models.TextField):
    """A dict stored as a Fernet token; the database never sees the plain text."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {}
        return decrypt(value)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return decrypt(value)

    def get_prep_value(self, value):
        return encrypt(value or {})
