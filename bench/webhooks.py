"""Webhook deliveries per second to a local receiver, and the time to drain a backlog.

    .venv/bin/python bench/webhooks.py --deliveries 20000 --backlog 100000 --endpoints 10 [--senders 2]

A receiver process (a threaded http.server with keep-alive, answering 204) listens on loopback.
Events are written untimed through `events_emit` (COPY, and one INSERT ... SELECT for their
deliveries), as the billing engine writes them. Then S sender processes (the default worker count,
Q_WORKERS=2) each run `webhook_deliveries_send` as a django-q2 task would, until nothing is due;
the figure is deliveries recorded as succeeded per second, from the first sender's start to the
last one's end (their Django start-up left out). The backlog run is the same
after an outage: `--backlog` events for one endpoint, all due at once (its 4 slots are the limit).
"""

import argparse
import os
import subprocess
import sys
import time

from _support import ROOT, django_setup, free_port, migrate, postgres

RECEIVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
server.request_queue_size = 256
server.serve_forever()
"""


def sender() -> None:
    from integrations.webhooks.sending import webhook_deliveries_send

    started = time.time()
    attempts = webhook_deliveries_send(budget_seconds=3600)
    print(attempts, started, time.time(), flush=True)


def prepare(*, events: int, endpoints: list) -> None:
    from django.db import transaction

    from integrations.services import events_emit

    batch = 5000
    for start in range(0, events, batch):
        with transaction.atomic():
            events_emit(
                [
                    (
                        "payment.succeeded",
                        {"payment": {"id": f"pay_{n}", "amount": {"amount": "9.99", "currency": "EUR"}}},
                        "",
                    )
                    for n in range(start, min(events, start + batch))
                ]
            )


def run(label: str, *, events: int, endpoint_count: int, senders: int, port: int) -> None:
    """`events` events, each delivered to every one of `endpoint_count` endpoints."""
    from django.db import connection

    from integrations.models import WebhookDelivery, WebhookEndpoint
    from integrations.webhooks.services import webhook_endpoint_create

    WebhookDelivery.objects.all().delete()
    WebhookEndpoint.objects.all().delete()
    endpoints = [webhook_endpoint_create(url=f"http://127.0.0.1:{port}/hooks/{n}")[1] for n in range(endpoint_count)]
    prepare(events=events, endpoints=endpoints)
    total = WebhookDelivery.objects.count()
    connection.close()
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--sender"], env=os.environ.copy(), stdout=subprocess.PIPE, text=True
        )
        for _ in range(senders)
    ]
    # From the first sender's start to the last one's end (Django's start-up in each is left out).
    figures = [p.communicate()[0].strip().splitlines()[-1].split() for p in processes]
    attempts = sum(int(f[0]) for f in figures)
    elapsed = max(float(f[2]) for f in figures) - min(float(f[1]) for f in figures)
    succeeded = WebhookDelivery.objects.filter(status="succeeded").count()
    print(
        f"{label}: {total} deliveries to {endpoint_count} endpoints, {senders} senders: "
        f"{succeeded} succeeded ({attempts} attempts) in {elapsed:.1f} s = {succeeded / elapsed:.0f} deliveries/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--backlog", type=int, default=100000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--senders", type=int, default=int(os.environ.get("Q_WORKERS", "2")))
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = "1"
    if args.sender:
        django_setup(os.environ["DATABASE_URL"])
        sender()
        return
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        with postgres() as url:
            django_setup(url)
            migrate()
            per = max(1, args.deliveries // args.endpoints)
            run("steady", events=per, endpoint_count=args.endpoints, senders=args.senders, port=port)
            run("one endpoint", events=args.deliveries // 4, endpoint_count=1, senders=args.senders, port=port)
            if args.backlog:
                run("backlog", events=args.backlog, endpoint_count=1, senders=args.senders, port=port)
    finally:
        receiver.terminate()
        receiver.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
