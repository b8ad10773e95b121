"""With DEBUG off, nothing that does work starts on the development fallbacks: SECRET_KEY signs
pay-now links and django-q2's pickled tasks, and gateway credentials need a key of their own.

Nor on a FIELD_ENCRYPTION_KEY that cannot open the stored secrets. `check --deploy` reports it
(a deploy check), and the web server (wsgi.py), the worker (our `qcluster` command) and
`run_billing` refuse to start. Other commands
(migrations, shell) still run, so a checkout can be inspected without production keys."""

import logging

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

from integrations.kernel import encryption

logger = logging.getLogger("integrations")


def development_key_problems() -> list[str]:
    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY
    if key.startswith("django-insecure") or len(key) < 50 or len(set(key)) < 5:
        return ["SECRET_KEY must be a random value of at least 50 characters when DEBUG is off."]
    if not settings.FIELD_ENCRYPTION_KEY:
        return ["FIELD_ENCRYPTION_KEY must be set when DEBUG is off (see .env.example)."]
    try:
        encryption.fernet()
    except ValueError:
        return [
            "FIELD_ENCRYPTION_KEY is not a Fernet key (urlsafe base64 of 32 bytes; a comma-separated list to rotate)."
        ]
    return []


def stored_secrets_problems() -> list[str]:
    """The keys must open what is stored: found once at start, not row by row in the middle of work."""
    try:
        problem = encryption.stored_secrets_problem()
    except DatabaseError as error:  # not migrated yet, or the database is down: nothing to open
        logger.warning("Stored secrets not checked (database not ready: %s)", type(error).__name__)
        return []
    finally:
        if not connections["default"].in_atomic_block:
            connections.close_all()  # a forking server or worker must not share this connection
    return [problem] if problem else []


def refuse_to_start(error: type[Exception] = ImproperlyConfigured) -> None:
    """Called where work starts (web server, worker, run_billing), before any is claimed; commands
    pass CommandError, so the message is one line rather than a traceback."""
    problems = development_key_problems() or stored_secrets_problems()
    if problems:
        raise error(problems[0])


@checks.register(checks.Tags.security, deploy=True)
def check_shared_cache(app_configs=None, **kwargs):
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DEBUG or not backend.endswith("LocMemCache"):
        return []
    message = "CACHE_URL is not set: each process throttles on its own, so N workers allow N times the rate."
    return [checks.Warning(message, hint="Set CACHE_URL=redis://...", id="integrations.W001")]


@checks.register(checks.Tags.security, deploy=True)
def check_production_keys(app_configs=None, **kwargs):
    problems = development_key_problems() or stored_secrets_problems()
    return [checks.Error(problem, id="integrations.E001") for problem in problems]
