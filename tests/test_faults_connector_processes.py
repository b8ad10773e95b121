"""Connector faults with real processes: the runner is `manage.py shell` running the
`run-connectors` task (what the django-q2 schedule calls), an OS process of its own, against local
vendor-shaped servers.

- Xero hands out a new refresh token (rotating the old one away) and the worker is killed with
  SIGKILL while its next call is in flight: the new tokens were committed by their own connection,
  so the next worker goes on with them (no invalid_grant), and the call Xero had carried out is
  not made twice (the same Idempotency-Key).
- HubSpot answers 429 with Retry-After: the worker backs off exactly as told and sends the same
  event once the time has come (time passes by moving next_attempt_at)."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from integrations.connectors.models import ConnectorToken
from integrations.connectors.services import connector_create, connector_enable
from integrations.models import Connector
from integrations.tests.hubspot_server import TOKEN, HubSpotServer
from integrations.tests.outbox_events import customer, subscription
from integrations.tests.test_connector_xero import customer as xero_customer
from integrations.tests.test_connector_xero import invoice, paid, xero_connector
from integrations.tests.xero_server import XeroServer, forget_committed_tokens
from tests.billing_fault_helpers import _database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
RUN = "from integrations.tasks import connectors_run; print('handled', connectors_run())"


class Runner:
    """One `run-connectors` in its own process group, its output in a file."""

    def __init__(self, folder: Path, name: str):
        self.out = folder / f"{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mediamanager.test_settings",
            "DATABASE_URL": _database_url(),
            "CONNECTOR_SETTLE_SECONDS": "0",
        }
        with open(self.out, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "shell", "-c", RUN],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def finish(self) -> str:
        self.process.wait(timeout=120)
        output = self.out.read_text()
        assert self.process.returncode == 0, output[-3000:]
        return output


def wait_for(condition, *, what: str, runner: Runner, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; the runner said:\n{runner.out.read_text()[-3000:]}")


@pytest.fixture
def settled(settings):
    settings.CONNECTOR_SETTLE_SECONDS = 0
    yield
    forget_committed_tokens()


def test_a_worker_killed_right_after_xero_rotated_the_refresh_token_leaves_the_new_one_to_the_next(
    tmp_path, httpserver, settled
):
    xero = XeroServer().install(httpserver)
    connector = connector_enable(connector=xero_connector(xero))
    xero_customer()
    paid(invoice())
    xero.hold = threading.Event()

    first = Runner(tmp_path, "runner-1")
    wait_for(lambda: xero.held >= 1, what="the worker's first call after the refresh", runner=first)
    first.kill()  # the call is in flight, unanswered; the runner's transaction dies with it
    assert xero.used_refresh_tokens == ["xrt-initial-refresh-token"] and xero.refresh_token == "xrt-rotated-1"
    stored = ConnectorToken.objects.get(connector_id=connector.pk).tokens
    assert stored["refresh_token"] == "xrt-rotated-1"  # committed by its own connection before the kill
    assert Connector.objects.get(pk=connector.pk).cursor_seq == 0

    held, xero.hold = xero.hold, None
    held.set()  # Xero carries out the call it had been sent; its answer goes nowhere
    second = Runner(tmp_path, "runner-2")
    assert "handled" in second.finish()

    assert Connector.objects.get(pk=connector.pk).status == "ok"
    assert not [call for call in xero.token_calls() if call.status != 200]  # never an invalid_grant
    assert (len(xero.contacts), len(xero.invoices), len(xero.payments)) == (1, 1, 1)


def test_a_worker_told_to_wait_by_a_429_waits_exactly_that_long_then_sends_the_same_event(
    tmp_path, httpserver, settled
):
    hubspot = HubSpotServer().install(httpserver)
    connector = connector_create(
        kind="hubspot",
        name="CRM",
        credentials={"access_token": TOKEN},
        settings={"base_url": hubspot.base_url},
        enabled=True,
    )
    customer()
    subscription("active")
    hubspot.fail_next(429, retry_after="120")

    Runner(tmp_path, "runner-1").finish()
    told = Connector.objects.get(pk=connector.pk)
    assert told.status == "failing" and "retry after 120s" in told.last_error
    assert timedelta(seconds=115) < told.next_attempt_at - timezone.now() <= timedelta(seconds=120)
    Runner(tmp_path, "runner-2").finish()  # not due: nothing is sent
    assert len(hubspot.calls) == 1

    Connector.objects.filter(pk=connector.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Runner(tmp_path, "runner-3").finish()
    assert [call.status for call in hubspot.calls] == [429, 200, 200]
    assert Connector.objects.get(pk=connector.pk).status == "ok"
    (contact,) = hubspot.contacts.values()
    assert contact["mm_subscription_status"] == "active"
