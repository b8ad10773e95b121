"""One-off checkouts through the HTTP API against the sandbox gateway, on PostgreSQL and gunicorn.

    .venv/bin/python bench/checkout.py --checkouts 2000 --concurrency 8 --workers 4

Prints checkouts per second and p50/p99 latency. Each checkout is the real route: customer token,
POST /api/v1/me/checkout with an Idempotency-Key -> invoice (numbered), payment, sandbox charge,
access. Setup (customers, tokens, attached cards) is not timed.
"""

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

from _support import ROOT, django_setup, free_port, migrate, percentile, postgres, wait_http


def prepare(customers: int) -> tuple[str, list[tuple[str, str]]]:
    from payments.gateways.sandbox.gateway import sandbox_tokenize
    from payments.models import Customer
    from payments.services import customer_token_create, gateway_account_create, payment_method_attach
    from plans.services import plan_create

    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    plan = plan_create(
        code=f"pass-{uuid.uuid4().hex[:6]}",
        name="Event pass",
        kind="one_off",
        access_days=2,
        prices=[{"amount": "4.99", "currency": "EUR"}],
    )
    Customer.objects.bulk_create(
        [
            Customer(external_id=f"bench-{uuid.uuid4().hex}", email=f"b{i}@example.com", country="DE", currency="EUR")
            for i in range(customers)
        ]
    )
    buyers = []
    for customer in Customer.objects.all():
        card = sandbox_tokenize(
            publishable_key=account.credentials["publishable_key"],
            number="4242424242424242",
            exp_month=12,
            exp_year=2034,
            cvc="123",
        )
        method = payment_method_attach(customer=customer, gateway_account_id=account.id, token=card.token)
        token, _ = customer_token_create(customer=customer, ttl_seconds=6 * 3600)
        buyers.append((token, method.id))
    return plan.id, buyers


def drive(port: int, plan_id: str, buyers: list[tuple[str, str]], checkouts: int, concurrency: int):
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(checkouts))
    lock = threading.Lock()

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            token, method = buyers[index % len(buyers)]
            body = json.dumps({"plan": plan_id, "payment_method": method})
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"bench-{index}",
            }
            started = time.perf_counter()
            connection.request("POST", "/api/v1/me/checkout", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 201:
                    failures.append(f"{response.status} {payload[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    args = parser.parse_args()

    with postgres() as url:
        django_setup(url)
        print(f"migrate: {migrate():.1f} s")
        plan_id, buyers = prepare(args.customers)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "CONN_MAX_AGE": "600"}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "mediamanager.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            wait_http(port)
            drive(port, plan_id, buyers, min(50, args.checkouts), args.concurrency)  # warm-up
            elapsed, latencies, failures = drive(port, plan_id, buyers, args.checkouts, args.concurrency)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

        from payments.models import Payment

        print(
            f"checkouts: {args.checkouts} over {args.concurrency} connections, gunicorn {args.workers} workers, "
            f"{os.cpu_count()} cores"
        )
        print(f"throughput: {args.checkouts / elapsed:.1f} checkouts/s ({elapsed:.2f} s)")
        print(
            f"latency: p50 {percentile(latencies, 0.50) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
        )
        print(f"failures: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""))
        print(f"payments succeeded in the database: {Payment.objects.filter(status='succeeded').count()}")


if __name__ == "__main__":
    main()
