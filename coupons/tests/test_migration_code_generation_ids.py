"""Upgrading a database of the first release: the code generations it holds get their own cgn_ ids,
"done" reads "succeeded", and their numbers (what queued tasks carry) stay; and back again."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _manage(database_url: str, *args: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mediamanager.settings", "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_existing_generations_get_distinct_cgn_ids_and_keep_their_numbers(db):
    import psycopg

    params = connection.settings_dict
    server = f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}"
    name = f"upgrade_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    try:
        _manage(url, "migrate", "coupons", "0003", "--no-input")
        with psycopg.connect(url, autocommit=True) as old:
            old.execute(
                "INSERT INTO coupons_coupon (id, name, description, kind, code_template, discount_type, duration, "
                "trial_unit, redemption_target, max_redemptions_per_customer, times_redeemed, created_at, updated_at) VALUES "
                "('cpn_old', 'Old', '', 'bulk', 'OLD-********', 'percent', 'once', '', 'subscription', 1, 0, now(), now())"
            )
            old.execute(
                "INSERT INTO coupons_codegeneration (id, coupon_id, requested, generated, status, error, created_at) "
                "VALUES (7, 'cpn_old', 20000, 20000, 'done', '', now()), (8, 'cpn_old', 30000, 5000, 'running', '', "
                "now()), (9, 'cpn_old', 40000, 0, 'queued', '', now())"
            )

        _manage(url, "migrate", "coupons", "0004", "--no-input")

        with psycopg.connect(url) as new:
            rows = new.execute("SELECT id, public_id, status FROM coupons_codegeneration ORDER BY id").fetchall()
        assert [(row[0], row[2]) for row in rows] == [(7, "succeeded"), (8, "running"), (9, "queued")]
        public_ids = [row[1] for row in rows]
        assert len(set(public_ids)) == 3 and all(i.startswith("cgn_") and len(i) == 30 for i in public_ids)
        shown = _manage(
            url,
            "shell",
            "-c",
            "from coupons.models import CodeGeneration; g = CodeGeneration.objects.get(pk=8); "
            "print(g.public_id, g.status, g.generated)",
        )
        assert shown.splitlines()[-1].split() == [public_ids[1], "running", "5000"]

        _manage(url, "migrate", "coupons", "0003", "--no-input")
        with psycopg.connect(url) as back:
            assert back.execute("SELECT status FROM coupons_codegeneration WHERE id = 7").fetchone() == ("done",)
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
