"""FIELD_ENCRYPTION_KEY: a wrong key stops every process at start with one message; keys rotate."""

import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from integrations.kernel.encryption import WRONG_KEY, opened, sealed, stored_secrets_problem
from integrations.kernel.models import IdempotencyKey
from payments.models import GatewayAccount
from payments.tests.factories import sandbox_account

ROOT = Path(__file__).resolve().parent.parent
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _database_url() -> str:
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


def _start(*command: str, key: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mediamanager.settings",
        "DEBUG": "0",
        "SECRET_KEY": "k" * 10 + uuid.uuid4().hex + uuid.uuid4().hex,
        "FIELD_ENCRYPTION_KEY": key,
        "ALLOWED_HOSTS": "billing.example.com",
        "DATABASE_URL": _database_url(),
    }
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "command",
    [
        ("-c", "import mediamanager.wsgi"),
        ("manage.py", "qcluster"),
        ("manage.py", "run_billing"),
        ("manage.py", "check", "--deploy"),
    ],
    ids=["web-server", "worker", "run_billing", "deploy-check"],
)
def test_a_key_that_cannot_open_the_stored_credentials_stops_the_process_at_start(settings, command):
    settings.FIELD_ENCRYPTION_KEY = OLD_KEY
    sandbox_account()  # credentials stored under OLD_KEY, committed for the subprocess

    result = _start(sys.executable, *command, key=NEW_KEY)

    assert result.returncode != 0
    assert result.stderr.count(WRONG_KEY) == 1, result.stderr[-2000:]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_right_key_passes_the_start_up_check(settings):
    settings.FIELD_ENCRYPTION_KEY = OLD_KEY
    sandbox_account()

    result = _start(sys.executable, "manage.py", "check", "--deploy", key=f"{NEW_KEY},{OLD_KEY}")

    assert result.returncode == 0, result.stderr[-2000:]


def test_rotation_the_first_key_encrypts_every_key_decrypts_and_the_command_rewrites_under_the_first(db, settings):
    settings.FIELD_ENCRYPTION_KEY = OLD_KEY
    account = sandbox_account()
    credentials = account.credentials
    IdempotencyKey.objects.create(credential="c" * 64, key="k", request_hash="h" * 64, body=sealed(b'{"token": "x"}'))

    settings.FIELD_ENCRYPTION_KEY = f"{NEW_KEY},{OLD_KEY}"
    assert GatewayAccount.objects.get(pk=account.pk).credentials == credentials  # the old key still decrypts
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    call_command("reencrypt_secrets", stdout=StringIO())  # twice is harmless

    settings.FIELD_ENCRYPTION_KEY = NEW_KEY  # the old key dropped
    assert "payments.GatewayAccount.credentials: 1 re-encrypted" in out.getvalue()
    assert GatewayAccount.objects.get(pk=account.pk).credentials == credentials
    assert opened(bytes(IdempotencyKey.objects.get(key="k").body)) == b'{"token": "x"}'
    assert stored_secrets_problem() is None

    settings.FIELD_ENCRYPTION_KEY = OLD_KEY
    assert WRONG_KEY in stored_secrets_problem()
