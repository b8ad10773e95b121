"""Webhook faults with real processes: the django-q2 worker (`manage.py qcluster`, fed through its
database broker by the events' on-commit hook, as in production) sending to a receiver that is
its own OS process and verifies every delivery with the `standardwebhooks` package.

- The receiver is down for hours, then back: every event is delivered, none twice.
- The worker is killed (SIGKILL, its whole process group) while a request is in flight: once its
  lease has run out the delivery is sent again by a new worker, with the same webhook-id.
- A receiver that stops answering does not hold up another endpoint's deliveries.
- An endpoint deleted (through the API) while its deliveries are queued gets none of them.

Hours and leases pass by moving the rows' next_attempt_at / leased_until into the past: the test
never sleeps out a real retry delay and never depends on timing (it waits for states, with a
generous timeout)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Task
from django_q.tasks import async_task

from integrations.models import Event, WebhookDelivery
from integrations.services import event_emit, events_emit
from integrations.webhooks.services import webhook_endpoint_create
from tests.billing_fault_helpers import _database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
Status = WebhookDelivery.Status


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, *, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Process:
    """An OS process in its own process group (qcluster forks its workers: killing the group kills
    them all), output kept in files."""

    def __init__(self, args: list[str], *, folder: Path, name: str, env: dict | None = None):
        self.out = folder / f"{name}.log"
        with open(self.out, "w") as out:
            self.process = subprocess.Popen(
                args,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def output(self) -> str:
        return self.out.read_text()


class Receiver:
    def __init__(self, folder: Path, secret: str, *, port: int, hang: str = "", name: str = "receiver"):
        self.log = folder / ("received.jsonl" if name == "receiver" else f"{name}.jsonl")
        args = [sys.executable, "-m", "tests.webhook_receiver_process", "--port", str(port), "--log", str(self.log)]
        args += ["--secret", secret] + ([f"--hang-{hang}"] if hang else [])
        self.process = Process(args, folder=folder, name=name)
        wait_for(lambda: "ready" in self.process.output(), what="the receiver to listen")

    @staticmethod
    def received(folder: Path, name: str = "receiver") -> list[dict]:
        log = folder / ("received.jsonl" if name == "receiver" else f"{name}.jsonl")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def workers(tmp_path, settings, monkeypatch):
    """Start `manage.py qcluster` processes on the test database; all are killed at the end. The
    test's own async_task calls go to the database broker (the suite otherwise runs them inline)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setattr(Conf, "SYNC", False)
    started: list[Process] = []
    env = {
        "DJANGO_SETTINGS_MODULE": "mediamanager.settings",
        "DATABASE_URL": _database_url(),
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "1",
        "Q_SYNC": "0",
        "Q_WORKERS": "2",
    }

    def start(name: str = "qcluster") -> Process:
        process = Process([sys.executable, "manage.py", "qcluster"], folder=tmp_path, name=name, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def sweep(*, wait: bool = False) -> str:
    """What the every-minute `send-webhooks` schedule does, handed to the workers now; `wait` for a
    worker to have run it."""
    name = f"send-webhooks-{uuid.uuid4().hex[:8]}"
    async_task("integrations.tasks.webhook_deliveries_send_due", task_name=name)
    if wait:
        wait_for(lambda: Task.objects.filter(name=name).exists(), what=f"the worker to run {name}")
    return name


def deliveries(**filters):
    return WebhookDelivery.objects.filter(**filters)


def test_a_receiver_down_for_hours_gets_every_event_once_when_it_is_back(tmp_path, workers):
    port = free_port()  # nothing listens there yet: connections are refused
    secret, endpoint = webhook_endpoint_create(url=f"http://127.0.0.1:{port}/hooks")
    workers()
    with transaction.atomic():
        events_emit([("invoice.paid", {"invoice": {"id": f"inv_{n}"}}, f"cus_{n}") for n in range(40)])
    with transaction.atomic():
        event_emit(type="customer.created", payload={"customer": {"id": "cus_x"}}, customer_id="cus_x")
    ids = set(Event.objects.values_list("id", flat=True))

    for attempt in (1, 2, 3, 4):  # the first try, then retries as the hours pass
        wait_for(
            lambda n=attempt: deliveries(attempt=n, status=Status.PENDING, leased_until__isnull=True).count() == 41,
            what=f"attempt {attempt} to fail for every delivery",
        )
        deliveries().update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        if attempt < 4:
            sweep()
    assert Receiver.received(tmp_path) == []

    Receiver(tmp_path, secret, port=port)
    sweep()
    wait_for(lambda: deliveries(status=Status.SUCCEEDED).count() == 41, what="every delivery to succeed")
    sweep(wait=True)  # a sweep after the 2xx finds nothing to send again

    received = Receiver.received(tmp_path)
    assert sorted(r["id"] for r in received) == sorted(ids)  # each event once
    assert all(r["verified"] for r in received)
    assert set(deliveries().values_list("attempt", flat=True)) == {5}
    endpoint.refresh_from_db()
    assert endpoint.status == "enabled"


def test_a_worker_killed_mid_send_is_replaced_and_the_delivery_sent_again_with_the_same_webhook_id(tmp_path, workers):
    port = free_port()
    secret, _ = webhook_endpoint_create(url=f"http://127.0.0.1:{port}/hooks")
    receiver = Receiver(tmp_path, secret, port=port, hang="first")
    first_worker = workers("qcluster-1")
    with transaction.atomic():
        event = event_emit(type="payment.succeeded", payload={"payment": {"id": "pay_1"}}, customer_id="cus_1")

    wait_for(lambda: Receiver.received(tmp_path), what="the request to reach the receiver")
    first_worker.kill()  # SIGKILL to the cluster and its workers, the request still unanswered
    delivery = deliveries().get()
    assert (delivery.status, delivery.attempt) == (Status.PENDING, 0)
    assert delivery.leased_until is not None and delivery.leased_until > timezone.now()

    workers("qcluster-2")
    sweep(wait=True)  # while the dead worker's lease holds, nobody sends it
    assert len(Receiver.received(tmp_path)) == 1

    deliveries().update(leased_until=timezone.now() - timedelta(seconds=1))  # the lease runs out
    sweep()
    wait_for(lambda: deliveries(status=Status.SUCCEEDED).exists(), what="the delivery to succeed")

    received = Receiver.received(tmp_path)
    assert [r["id"] for r in received] == [event.id, event.id]
    assert all(r["verified"] for r in received)
    assert deliveries().get().attempt == 1
    receiver.process.kill()


def test_a_receiver_that_stops_answering_does_not_hold_up_another_endpoint(tmp_path, workers):
    slow_port, fast_port = free_port(), free_port()
    slow_secret, slow = webhook_endpoint_create(url=f"http://127.0.0.1:{slow_port}/hooks")
    fast_secret, fast = webhook_endpoint_create(url=f"http://127.0.0.1:{fast_port}/hooks")
    Receiver(tmp_path, slow_secret, port=slow_port, hang="all", name="slow")
    Receiver(tmp_path, fast_secret, port=fast_port, name="fast")
    workers()
    with transaction.atomic():
        events_emit([("invoice.paid", {"invoice": {"id": f"inv_{n}"}}, f"cus_{n}") for n in range(20)])

    wait_for(lambda: deliveries(endpoint=fast, status=Status.SUCCEEDED).count() == 20, what="the fast endpoint")
    assert len(Receiver.received(tmp_path, "fast")) == 20
    assert not deliveries(endpoint=slow, status=Status.SUCCEEDED).exists()  # still waiting on its answers
    in_flight = len(Receiver.received(tmp_path, "slow"))
    assert 1 <= in_flight <= 4  # WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT: the rest of its queue waits its turn


def test_an_endpoint_deleted_while_its_deliveries_are_queued_gets_none_of_them(tmp_path, workers, operator_client):
    port = free_port()  # down for now
    secret, endpoint = webhook_endpoint_create(url=f"http://127.0.0.1:{port}/hooks")
    workers()
    with transaction.atomic():
        events_emit([("invoice.paid", {"invoice": {"id": f"inv_{n}"}}, f"cus_{n}") for n in range(10)])
    wait_for(lambda: deliveries(attempt=1, leased_until__isnull=True).count() == 10, what="the first attempts to fail")

    assert operator_client.delete(f"/api/v1/webhook-endpoints/{endpoint.pk}").status_code == 204
    Receiver(tmp_path, secret, port=port)
    sweep(wait=True)

    assert Receiver.received(tmp_path) == []
    assert not deliveries().exists()
