"""The project as a whole: migrations, schema, health, scheduled work, demo data."""

import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django_q.models import Schedule

from mediamanager.schedules import SCHEDULES
from plans.models import Plan

ROOT = Path(__file__).resolve().parent.parent


def test_models_have_no_missing_migrations(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_healthz_answers_200_when_the_database_is_reachable(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/customers" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_setup_schedules_upserts_declared_schedules_and_removes_stale_ones(db):
    Schedule.objects.create(name="left-over", func="math.floor", schedule_type=Schedule.HOURLY)
    call_command("setup_schedules", stdout=StringIO())
    call_command("setup_schedules", stdout=StringIO())
    assert sorted(Schedule.objects.values_list("name", flat=True)) == sorted(task.name for task in SCHEDULES)


def test_every_scheduled_function_imports(db):
    from django.utils.module_loading import import_string

    for task in SCHEDULES:
        assert callable(import_string(task.func))


def test_seed_demo_is_idempotent_and_loads_the_demo_catalogue(db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    plans = {plan.code: plan for plan in Plan.objects.all()}
    assert set(plans) == {"monthly", "annual", "monthly-free-trial", "event-pass-48h", "quarterly-3"}
    assert plans["annual"].trial_length == 7 and plans["annual"].trial_requires_payment_method
    assert (
        plans["monthly-free-trial"].trial_length == 14 and not plans["monthly-free-trial"].trial_requires_payment_method
    )
    assert plans["event-pass-48h"].kind == "one_off" and plans["event-pass-48h"].access_days == 2
    assert plans["quarterly-3"].interval_count == 3 and plans["quarterly-3"].billing_cycles == 3
    currencies = set(plans["monthly"].prices.filter(is_current=True).values_list("amount_currency", flat=True))
    assert currencies == {"EUR", "GBP", "USD", "JPY", "KWD"}


def test_create_api_key_prints_only_the_key(db):
    out = StringIO()
    call_command("create_api_key", "crm", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmk_")


def test_deploy_check_is_clean_with_production_values(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mediamanager.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + uuid.uuid4().hex + "production-grade-secret-key-value",
        "ALLOWED_HOSTS": "billing.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path}/deploy.sqlite3",
        "SECURE_SSL_REDIRECT": "1",
        "CACHE_URL": "redis://127.0.0.1:6379/1",  # shared throttles (not reached by the check)
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.postgres
@pytest.mark.slow
def test_every_migration_applies_to_an_empty_postgresql_database(db):
    import psycopg

    params = connection.settings_dict
    server = f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}"
    name = f"migrate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mediamanager.settings", "DATABASE_URL": f"{server}/{name}"}
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "Applying plans.0001_initial... OK" in result.stdout
        with psycopg.connect(f"{server}/{name}") as migrated:  # the audit log's append-only trigger
            triggers = migrated.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall()
        assert ("integrations_auditevent_append_only",) in triggers
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_environment_variable_is_documented_in_env_example():
    import re

    read = set(re.findall(r'env\.\w+\("([A-Z_]+)"', (ROOT / "mediamanager" / "settings.py").read_text()))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - documented == set()


def _deploy_check(tmp_path, **overrides) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mediamanager.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + uuid.uuid4().hex + "production-grade-secret-key-value",
        "FIELD_ENCRYPTION_KEY": "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=",
        "ALLOWED_HOSTS": "billing.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path}/deploy.sqlite3",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY must be a random value"),
        ({"SECRET_KEY": "short-but-set"}, "SECRET_KEY must be a random value"),
        ({"SECRET_KEY": "a" * 60}, "SECRET_KEY must be a random value"),
        ({"FIELD_ENCRYPTION_KEY": None}, "FIELD_ENCRYPTION_KEY must be set"),
        ({"FIELD_ENCRYPTION_KEY": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEY is not a Fernet key"),
    ],
    ids=["no-secret-key", "short-secret-key", "one-letter-secret-key", "no-encryption-key", "bad-encryption-key"],
)
def test_with_debug_off_nothing_starts_on_development_keys(tmp_path, overrides, message):
    result = _deploy_check(tmp_path, **overrides)

    assert result.returncode != 0
    assert message in result.stderr


def test_with_debug_off_and_real_keys_the_deploy_check_starts(tmp_path):
    result = _deploy_check(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_serves_with_gunicorn_and_make_run_with_the_dev_server():
    production = (ROOT / "Procfile").read_text()
    development = (ROOT / "Procfile.dev").read_text()
    assert production.startswith("web: gunicorn mediamanager.wsgi") and "runserver" not in production
    assert "qcluster" in production and "qcluster" in development
    assert "runserver" in development
    assert "-f Procfile.dev" in (ROOT / "Makefile").read_text()


def _run(tmp_path, *command, **overrides) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mediamanager.settings", "DEBUG": "0"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/keys.sqlite3"
    env.pop("SECRET_KEY", None)
    env.update(overrides)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_web_server_and_run_billing_refuse_development_keys_but_migrations_still_run(tmp_path):
    wsgi = _run(tmp_path, sys.executable, "-c", "import mediamanager.wsgi")
    billing = _run(tmp_path, sys.executable, "manage.py", "run_billing")
    migrations = _run(tmp_path, sys.executable, "manage.py", "makemigrations", "--check", "--dry-run")

    assert wsgi.returncode != 0 and "SECRET_KEY must be a random value" in wsgi.stderr
    assert billing.returncode != 0 and "SECRET_KEY must be a random value" in billing.stderr
    assert migrations.returncode == 0, migrations.stderr


def test_the_app_server_serves_the_admins_static_files_with_debug_off(client):
    response = client.get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


def test_the_deploy_check_warns_when_throttles_are_counted_per_process(tmp_path):
    result = _deploy_check(tmp_path, CACHE_URL=None)

    assert "integrations.W001" in result.stderr and "CACHE_URL is not set" in result.stderr
