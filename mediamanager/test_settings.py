"""Settings for the test suite: the real settings with test-friendly values."""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("BILLING_ALLOW_TIME_TRAVEL", "1")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("RETURN_URL_ALLOWED_ORIGINS", "https://app.example.com")
os.environ.setdefault("SANDBOX_ENABLED", "1")
os.environ.setdefault("VIES_URL", "http://127.0.0.1:9/check-vat-number")  # never the EU's from a test

from mediamanager.settings import *  # noqa: F403
from mediamanager.settings import Q_CLUSTER, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"credential": "100000/min"}}
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
