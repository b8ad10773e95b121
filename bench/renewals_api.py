"""Renewals of subscriptions made through the API, as client apps make them, with the worker
sending receipts beside the engine (issue 14's "API-created workload").

    .venv/bin/python bench/renewals_api.py --subscriptions 3000

Setup (not timed): a sandbox gateway and a monthly plan, then each subscriber signs up through the
HTTP routes in process (Django's test client: operator creates the customer, the app gets its
token and gateway, tokenizes a card at the sandbox, attaches it, checks out). So every row is as
the API writes it: events, webhook-free outbox rows, tokens, sandbox cards and charges, receipts.

Timed: `manage.py run_billing --as-of <a month later>` as its own process, with `manage.py
qcluster` running beside it (sending every receipt, PDF attached unless --no-receipt-pdfs), until
nothing is due; then until the last receipt is marked sent. Printed: the engine's wall with and
without its idle start-up (a run_billing with nothing due, measured first), renewals/s of billing
work, and when the receipts were all out.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

from _support import ROOT, django_setup, migrate, postgres


def sign_up(count: int) -> tuple[str, float]:
    from django.test import Client

    from integrations.kernel.api_keys import api_key_create
    from payments.services import customer_token_create, gateway_account_create
    from plans.services import plan_create

    gateway_account_create(provider="sandbox", display_name="Sandbox")
    plan = plan_create(
        code=f"monthly-{uuid.uuid4().hex[:6]}",
        name="Monthly",
        kind="recurring",
        interval="month",
        prices=[{"amount": "9.99", "currency": "EUR"}],
    )
    api_key, _ = api_key_create(name="bench")
    web = Client(HTTP_HOST="localhost", secure=True)
    operator = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    from payments.models import Customer

    started = time.perf_counter()
    for index in range(count):
        created = web.post(
            "/api/v1/customers",
            json.dumps({"external_id": f"bench-{index}", "email": f"s{index}@example.com", "country": "DE"}),
            content_type="application/json",
            **operator,
        )
        assert created.status_code == 201, created.content
        raw, _ = customer_token_create(customer=Customer.objects.get(pk=created.json()["id"]))
        app = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        gateway = web.get("/api/v1/me/gateway?currency=EUR", **app).json()
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        token = web.post(
            "/sandbox/v1/tokens",
            json.dumps({"publishable_key": gateway["client"]["publishable_key"], "card": card}),
            content_type="application/json",
        ).json()["token"]
        method = web.post(
            "/api/v1/me/payment-methods",
            json.dumps({"gateway": gateway["id"], "token": token}),
            content_type="application/json",
            **app,
        ).json()
        checkout = web.post(
            "/api/v1/me/checkout",
            json.dumps({"plan": plan.id, "payment_method": method["id"]}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"signup-{index}",
            **app,
        )
        assert checkout.status_code == 201, checkout.content
        if (index + 1) % 500 == 0:
            print(f"  {index + 1} signed up ({(index + 1) / (time.perf_counter() - started):.1f}/s)", flush=True)
    return plan.id, time.perf_counter() - started


def run_billing(env: dict, as_of, profile: str = "") -> tuple[float, str]:
    started = time.perf_counter()
    command = ["manage.py", "run_billing", "--as-of", as_of.isoformat()]
    if profile:  # where the engine's time goes (cProfile slows it: the rate is not then a figure)
        command = ["-m", "cProfile", "-o", profile, *command]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = (done.stdout.strip() + "\n" + done.stderr.strip()).strip().splitlines()
    return time.perf_counter() - started, " | ".join(line for line in lines if line.strip())[-400:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=3000)
    parser.add_argument("--no-receipt-pdfs", action="store_true", help="receipts without their PDF attached")
    parser.add_argument("--profile", metavar="FILE", default="", help="run the engine under cProfile into FILE")
    args = parser.parse_args()
    with postgres() as url:
        os.environ["RECEIPTS_ATTACH_PDF"] = "0" if args.no_receipt_pdfs else "1"
        os.environ["EMAIL_URL"] = "dummymail://"  # sent and dropped: the receipt's rendering and PDF still run
        django_setup(url)
        migrate()
        from django.utils import timezone

        from plans.models import OutgoingEmail, Subscription

        print(f"signing up {args.subscriptions} subscribers through the API ...", flush=True)
        _, signup_seconds = sign_up(args.subscriptions)
        print(f"signups: {args.subscriptions / signup_seconds:.1f}/s in process ({signup_seconds:.0f} s)")
        OutgoingEmail.objects.filter(sent_at__isnull=True).update(sent_at=timezone.now())  # the signups' mails
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "mediamanager.settings",
            "BILLING_ALLOW_TIME_TRAVEL": "1",
        }
        now = timezone.now()
        idle, _ = run_billing(env, now)  # nothing due: Django's start-up and an empty claim
        as_of = now + timedelta(days=32)
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(3)  # the cluster up before the engine starts
            started = time.monotonic()
            wall, summary = run_billing(env, as_of, args.profile)
            renewed = Subscription.objects.filter(cycles_billed__gte=2).count()
            while OutgoingEmail.objects.filter(sent_at__isnull=True).exists():
                if time.monotonic() - started > 1800:
                    break
                time.sleep(0.2)
            receipts_done = time.monotonic() - started
            unsent = OutgoingEmail.objects.filter(sent_at__isnull=True).count()
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        work = wall - idle
        print(f"run_billing: {summary}")
        print(f"renewed: {renewed} of {args.subscriptions}")
        print(
            f"engine wall {wall:.2f} s, idle start-up {idle:.2f} s, billing work {work:.2f} s: "
            f"{renewed / work:.0f} renewals/s (with the worker sending receipts beside it)"
        )
        print(f"every receipt sent {receipts_done:.1f} s after the engine started ({unsent} unsent)")
        if args.profile:
            import pstats

            pstats.Stats(args.profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
