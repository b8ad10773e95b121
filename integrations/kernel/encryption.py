"""The one Fernet key of the service (FIELD_ENCRYPTION_KEY): gateway credentials and the stored
answers of idempotent requests are encrypted with it at rest."""

import base64
import hashlib

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def fernet() -> Fernet:
    key = settings.FIELD_ENCRYPTION_KEY
    if not key:
        if not settings.DEBUG:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set to store secrets.")
        # Development only: a key derived from SECRET_KEY so `make run` needs no setup.
        key = base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()
    return Fernet(key)
