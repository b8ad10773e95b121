"""Throttles key on the client address that the trusted proxies saw (TRUSTED_PROXY_COUNT), and
count in the shared cache (CACHE_URL), so every process spends one budget."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
TOKENS = "/sandbox/v1/tokens"
BODY = {"publishable_key": "pk_sandbox_x", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034}}


def _tokenize(forwarded_for: str):
    return APIClient().post(TOKENS, BODY, format="json", HTTP_X_FORWARDED_FOR=forwarded_for)


@pytest.mark.django_db
def test_without_trusted_proxies_a_client_cannot_pick_its_bucket_with_x_forwarded_for(settings):
    settings.SANDBOX_TOKENIZE_RATE = "2/min"

    statuses = [_tokenize(f"203.0.113.{n}").status_code for n in range(3)]

    assert statuses[:2] != [429, 429] and statuses[2] == 429


@pytest.mark.django_db
def test_behind_one_trusted_proxy_the_address_it_saw_is_the_client(settings):
    settings.SANDBOX_TOKENIZE_RATE = "2/min"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    # The client forged the first entry; the proxy appended the address it saw.
    same_client = [_tokenize(f"10.0.0.{n}, 198.51.100.7").status_code for n in range(3)]
    other_client = _tokenize("198.51.100.8").status_code

    assert same_client[2] == 429
    assert other_client != 429


def _database_url() -> str:
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


_REQUEST = """
import django, json, sys
django.setup()
from rest_framework.test import APIClient
body = {"publishable_key": "pk_sandbox_x", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034}}
print(json.dumps([APIClient().post("/sandbox/v1/tokens", body, format="json").status_code for _ in range(int(sys.argv[1]))]))
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_processes_share_one_budget_through_cache_url(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mediamanager.test_settings",
        "DATABASE_URL": _database_url(),
        "CACHE_URL": f"filecache://{tmp_path}/cache",
        "SANDBOX_TOKENIZE_RATE": "3/min",
    }

    def run(count: int) -> list[int]:
        done = subprocess.run(
            [sys.executable, "-c", _REQUEST, str(count)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = run(2), run(2)

    assert 429 not in first
    assert second[-1] == 429  # the second process saw the first one's tries
