"""With DEBUG off, nothing that does work starts on the development fallbacks: SECRET_KEY signs
pay-now links and django-q2's pickled tasks, and gateway credentials need a key of their own.

`check --deploy` reports it (a deploy check), and the web server (wsgi.py), the worker (the
Procfile runs `check --deploy` first) and `run_billing` refuse to start. Other commands
(migrations, shell) still run, so a checkout can be inspected without production keys."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def development_key_problems() -> list[str]:
    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY
    if key.startswith("django-insecure") or len(key) < 50 or len(set(key)) < 5:
        return ["SECRET_KEY must be a random value of at least 50 characters when DEBUG is off."]
    if not settings.FIELD_ENCRYPTION_KEY:
        return ["FIELD_ENCRYPTION_KEY must be set when DEBUG is off (see .env.example)."]
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEY)
    except ValueError:
        return ["FIELD_ENCRYPTION_KEY is not a Fernet key (urlsafe base64 of 32 bytes)."]
    return []


def refuse_development_keys() -> None:
    problems = development_key_problems()
    if problems:
        raise ImproperlyConfigured(problems[0])


@checks.register(checks.Tags.security, deploy=True)
def check_production_keys(app_configs=None, **kwargs):
    return [checks.Error(problem, id="integrations.E001") for problem in development_key_problems()]
