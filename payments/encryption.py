"""Encryption at rest for gateway credentials (Fernet, keyed by FIELD_ENCRYPTION_KEY)."""

import json

from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from integrations.kernel.encryption import fernet


def encrypt(data: dict) -> str:
    return fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    try:
        return json.loads(fernet().decrypt(token.encode()))
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
