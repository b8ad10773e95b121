"""Entitlement checks through the HTTP API against gunicorn, beside /healthz on the same server in
the same run, with wrk (Debian's `wrk`: apt-get install wrk).

    .venv/bin/python bench/entitlements.py [--customers 5000] [--workers 2] [--seconds 15]

Setup, not timed: customers with a subscription each (some trialing, some past due within grace,
some canceled), one in ten with a pass too, and a customer token each. Then, against gunicorn
(`--workers`, CONN_MAX_AGE as in production):
1. `/healthz` at full load (wrk, `--connections`), then `GET /api/v1/me/entitlements` at full load,
   each request with a random customer's token: requests/s, and the ratio entitlements / healthz;
2. entitlements at about half the rate measured in 1 (wrk with a per-connection delay): p50/p99;
3. in-process: ms per check through the Django test client, and the SQL statements of one.
"""

import argparse
import datetime as dt
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import ROOT, django_setup, free_port, migrate, postgres, wait_http

LUA = """
local tokens = {}
for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
math.randomseed(%(seed)d)
request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", "%(path)s", {["Authorization"] = "Bearer " .. token, ["Host"] = "127.0.0.1"})
end
%(delay)s
"""


def prepare(count: int) -> list[str]:
    from django.utils import timezone

    from payments.models import Customer
    from payments.services import customer_token_create
    from plans.models import Access, Subscription
    from plans.services import plan_create

    now = timezone.now()
    monthly = plan_create(
        code="bench-monthly", name="Monthly", kind="recurring", interval="month",
        prices=[{"amount": "9.99", "currency": "EUR"}],
    )  # fmt: skip
    day_pass = plan_create(
        code="bench-pass",
        name="Day pass",
        kind="one_off",
        access_days=1,
        prices=[{"amount": "2.99", "currency": "EUR"}],
    )
    Customer.objects.bulk_create(
        [
            Customer(external_id=f"bench-{i}", email=f"b{i}@example.com", country="DE", currency="EUR")
            for i in range(count)
        ]
    )
    customers = list(Customer.objects.order_by("id"))
    price, pass_price = monthly.prices.get(), day_pass.prices.get()
    statuses = ["active"] * 7 + ["trialing", "past_due", "canceled"]
    subs = []
    for i, customer in enumerate(customers):
        state = statuses[i % len(statuses)]
        subs.append(
            Subscription(
                customer=customer,
                plan=monthly,
                price=price,
                currency="EUR",
                status=state,
                current_period_start=now - dt.timedelta(days=10),
                current_period_end=now + dt.timedelta(days=20),
                past_due_since=now - dt.timedelta(days=1) if state == "past_due" else None,
                ended_at=now - dt.timedelta(days=1) if state == "canceled" else None,
                next_billing_at=None if state == "canceled" else now + dt.timedelta(days=20),
            )
        )
    Subscription.objects.bulk_create(subs, batch_size=2000)
    Access.objects.bulk_create(
        [
            Access(
                customer=c, plan=day_pass, price=pass_price, status="active", access_until=now + dt.timedelta(hours=5)
            )
            for c in customers[::10]
        ],
        batch_size=2000,
    )
    return [customer_token_create(customer=c, ttl_seconds=6 * 3600)[0] for c in customers]


def wrk(port: int, path: str, tokens_file: str, *, seconds: int, connections: int, delay_ms: float = 0) -> dict:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    delay = f"delay = function() return {delay_ms:.3f} end" if delay_ms else ""
    script.write_text(LUA % {"tokens": tokens_file, "seed": 7, "path": path, "delay": delay})
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    script.unlink()

    def ms(label):
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def in_process(tokens: list[str], repeat: int = 2000) -> tuple[float, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    for token in tokens[:50]:
        client.get("/api/v1/me/entitlements", HTTP_AUTHORIZATION=f"Bearer {token}")
    started = time.perf_counter()
    for i in range(repeat):
        client.get("/api/v1/me/entitlements", HTTP_AUTHORIZATION=f"Bearer {tokens[i % len(tokens)]}")
    elapsed = (time.perf_counter() - started) / repeat * 1000
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/me/entitlements", HTTP_AUTHORIZATION=f"Bearer {tokens[0]}")
    return elapsed, len(queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    random.seed(7)
    with postgres() as url:
        django_setup(url)
        print(f"migrate: {migrate():.1f} s")
        tokens = prepare(args.customers)
        tokens_file = tempfile.mkstemp(suffix=".txt")[1]
        Path(tokens_file).write_text("\n".join(tokens) + "\n")
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "CONN_MAX_AGE": "600"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mediamanager.wsgi", "-b", f"127.0.0.1:{port}",
             "-w", str(args.workers), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            wait_http(port)
            wrk(port, "/api/v1/me/entitlements", tokens_file, seconds=3, connections=args.connections)  # warm-up
            health = wrk(port, "/healthz", tokens_file, seconds=args.seconds, connections=args.connections)
            full = wrk(port, "/api/v1/me/entitlements", tokens_file, seconds=args.seconds, connections=args.connections)
            half_rate = full["rps"] / 2
            paced_connections = 8
            delay_ms = max(0.0, paced_connections / half_rate * 1000 - full["p50"] / 2)
            half = wrk(
                port, "/api/v1/me/entitlements", tokens_file,
                seconds=args.seconds, connections=paced_connections, delay_ms=delay_ms,
            )  # fmt: skip
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        per_check, statements = in_process(tokens)
    print(
        f"gunicorn {args.workers} workers, wrk {args.connections} connections, {args.seconds} s each, "
        f"{os.cpu_count()} cores, {args.customers:,} customers"
    )
    print(f"/healthz:               {health['rps']:8.0f} req/s  p50 {health['p50']:.1f} ms  p99 {health['p99']:.1f} ms")
    print(
        f"/me/entitlements:       {full['rps']:8.0f} req/s  p50 {full['p50']:.1f} ms  p99 {full['p99']:.1f} ms"
        f"  non-2xx {full['errors']}"
    )
    print(f"ratio entitlements / healthz: {full['rps'] / health['rps']:.2f}")
    print(
        f"at about half load:     {half['rps']:8.0f} req/s  p50 {half['p50']:.1f} ms  p99 {half['p99']:.1f} ms"
        f"  non-2xx {half['errors']}"
    )
    print(f"in-process: {per_check:.2f} ms per check, {statements} SQL statements")


if __name__ == "__main__":
    main()
