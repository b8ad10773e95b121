"""Renewals per second of the billing engine on PostgreSQL with the sandbox gateway, and in the
same run the plain-SQL ceiling: pgbench writing the same rows per renewal.

    .venv/bin/python bench/renewals.py --subscriptions 5000 --workers 2 [--tax both|off|on]

Setup (customers, cards, due subscriptions) is bulk-loaded and not timed. Then W `run_billing`
processes run at once over the due subscriptions (each claims batches with SKIP LOCKED). The
ceiling replays one renewal's writes (the same INSERTs and UPDATEs, into copies of the same
tables with the same indexes) as a pgbench transaction, with the same number of clients.

`--tax both` (the default) measures the engine twice in the same run on the same database, the
billing tables emptied in between: tax off (no registration), then tax on (an `eu_oss`
registration, customers spread over the member states, each taxed at its own rate).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _support import ROOT, django_setup, migrate, postgres

# Tax on: consumers across the EU, each with a card of their own country, so the evidence agrees.
TAXED_COUNTRIES = ["DE", "FR", "IT", "ES", "NL", "AT", "BE", "PL", "SE", "IE"]


def prepare(count: int, *, taxed: bool = False):
    from django.db import connection
    from django.utils import timezone

    from payments.models import GatewayAccount
    from payments.services import gateway_account_create
    from plans.models import Plan
    from plans.services import plan_create

    account = GatewayAccount.objects.filter(provider="sandbox").first() or gateway_account_create(
        provider="sandbox", display_name="Sandbox"
    )
    plan = Plan.objects.filter(code="monthly-bench").first() or plan_create(
        code="monthly-bench",
        name="Monthly",
        kind="recurring",
        interval="month",
        prices=[{"amount": "9.99", "currency": "EUR"}],
    )
    price = plan.prices.get()
    if taxed:
        import datetime as dt

        from payments.tax.services import tax_registration_create

        tax_registration_create(country="DE", scheme="eu_oss", number="EU276000001", active_from=dt.date(2020, 1, 1))
    now = timezone.now()
    due = now - timedelta(minutes=1)
    for start in range(0, count, 50_000):  # in slices, so a million rows do not sit in memory at once
        _load_due(range(start, min(count, start + 50_000)), account, plan, price, due, taxed)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return now


def _load_due(indexes, account, plan, price, due, taxed):
    from integrations.kernel.ids import new_id
    from payments.gateways.sandbox.models import SandboxCard
    from payments.models import Customer, PaymentMethod
    from plans.models import Subscription

    customers, cards, methods, subs = [], [], [], []
    for i in indexes:
        country = TAXED_COUNTRIES[i % len(TAXED_COUNTRIES)] if taxed else "DE"
        customer = Customer(
            id=new_id("cus"), external_id=f"bench-{i}", email=f"b{i}@example.com", country=country, currency="EUR"
        )
        card = SandboxCard(
            token=new_id("tok"),
            publishable_key=account.credentials["publishable_key"],
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
            fingerprint="f",
            behaviour="succeed",
        )
        method = PaymentMethod(
            id=new_id("pm"),
            customer=customer,
            gateway_account=account,
            gateway_reference=card.token,
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
            country=country if taxed else "",
            is_default=True,
        )
        customers.append(customer)
        cards.append(card)
        methods.append(method)
        subs.append(
            Subscription(
                id=new_id("sub"),
                customer=customer,
                plan=plan,
                price=price,
                currency="EUR",
                status="active",
                payment_method=method,
                current_period_start=due - timedelta(days=30),
                current_period_end=due,
                next_billing_at=due,
                cycles_billed=1,
            )
        )
    Customer.objects.bulk_create(customers, batch_size=2000)
    SandboxCard.objects.bulk_create(cards, batch_size=2000)
    PaymentMethod.objects.bulk_create(methods, batch_size=2000)
    Subscription.objects.bulk_create(subs, batch_size=2000)


def run_engine(url: str, workers: int, as_of) -> tuple[float, int]:
    """Wall seconds of W run_billing processes, and the peak resident memory (MiB) of the largest."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "mediamanager.settings",
        "BILLING_ALLOW_TIME_TRAVEL": "1",
        "LOG_LEVEL": "WARNING",
    }
    # Files, not pipes: progress lines never block a worker. Closed when the bench exits.
    logs = [tempfile.TemporaryFile("w+") for _ in range(workers)]  # noqa: SIM115
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_billing", "--as-of", as_of.isoformat()],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for log in logs
    ]
    peak_kib = 0
    for process in processes:
        # wait4 gives each child's own peak resident set (ru_maxrss, KiB on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        peak_kib = max(peak_kib, usage.ru_maxrss)
    elapsed = time.perf_counter() - started
    for log in logs:
        log.seek(0)
        lines = log.read().splitlines()
        summary = [line for line in lines if line.startswith("billed ")] or lines[-1:]
        print(f"  worker: {len(lines)} lines; {'; '.join(summary)}")
    return elapsed, peak_kib // 1024


# One renewal's writes, as our engine makes them, in plain SQL against copies of the same tables.
PGBENCH_SCRIPT = """
\\set n random(1, 1000000000)
BEGIN;
SELECT id FROM bench_sub WHERE id = :n FOR UPDATE SKIP LOCKED;
INSERT INTO bench_invoice (id, customer_id, currency, status, subtotal, subtotal_currency, discount_total, discount_total_currency, tax_total, tax_total_currency, total, total_currency, source, description, created_at, attempt_count, tax_inclusive, tax_status, tax_country, tax_subdivision, billing_country, card_country, ip_country, tax_evidence_conclusive, buyer_business_name, buyer_tax_id)
  VALUES ('inv_' || :client_id || '_' || :n, 'cus_x', 'EUR', 'draft', 9.99, 'EUR', 0, 'EUR', 0, 'EUR', 9.99, 'EUR', 'sub_' || :client_id || '_' || :n, 'Monthly', now(), 0, true, 'not_registered', 'DE', '', 'DE', '', '', false, '', '');
INSERT INTO bench_invoiceline (invoice_id, position, description, quantity, unit_amount, unit_amount_currency, discount_amount, discount_amount_currency, net, net_currency, tax_rate, tax_category, tax_amount, tax_amount_currency, total, total_currency, reference)
  VALUES ('inv_' || :client_id || '_' || :n, 1, 'Monthly', 1, 9.99, 'EUR', 0, 'EUR', 9.99, 'EUR', 0, 'digital_services', 0, 'EUR', 9.99, 'EUR', 'price:1');
INSERT INTO bench_link (invoice_id, subscription_id, purpose, period_start, period_end, price_id)
  VALUES ('inv_' || :client_id || '_' || :n, 'sub_x', 'renewal', now(), now() + interval '1 month', 1);
INSERT INTO bench_event (id, type, created_at, customer_id, actor_type, actor_id, actor_name, payload) VALUES ('evt_a' || :client_id || '_' || :n, 'invoice.created', now(), 'cus_x', '', '', '', '{"invoice": {"id": "inv"}}');
UPDATE bench_seq SET last_number = last_number + 1 WHERE year = 2026;
UPDATE bench_invoice SET number = 'INV-' || :client_id || '-' || :n, status = 'open', finalized_at = now() WHERE id = 'inv_' || :client_id || '_' || :n;
UPDATE bench_sub SET next_billing_at = now() + interval '10 minutes' WHERE id = :n;
COMMIT;
BEGIN;
INSERT INTO bench_payment (id, customer_id, invoice_id, gateway_account_id, payment_method_id, amount, amount_currency, amount_refunded, status, off_session, attempts, gateway_reference, decline_code, failure_message, next_action_url, return_url, created_at, updated_at)
  VALUES ('pay_' || :client_id || '_' || :n, 'cus_x', 'inv_' || :client_id || '_' || :n, 'gw_x', 'pm_x', 9.99, 'EUR', 0, 'processing', true, 1, '', '', '', '', '', now(), now());
INSERT INTO bench_attempt (payment_id, number, idempotency_key, outcome, decline_code, gateway_reference, created_at)
  VALUES ('pay_' || :client_id || '_' || :n, 1, 'pay_' || :client_id || '_' || :n || '-1', '', '', '', now());
COMMIT;
INSERT INTO bench_charge (id, card_id, idempotency_key, amount, currency, off_session, status, decline_code, return_url, amount_refunded, created_at)
  VALUES ('ch_' || :client_id || '_' || :n, 'tok_x', 'pay_' || :client_id || '_' || :n || '-1', 9.99, 'EUR', true, 'succeeded', '', '', 0, now());
BEGIN;
SELECT id FROM bench_payment WHERE id = 'pay_' || :client_id || '_' || :n FOR UPDATE;
UPDATE bench_attempt SET outcome = 'succeeded', gateway_reference = 'ch', completed_at = now() WHERE payment_id = 'pay_' || :client_id || '_' || :n;
UPDATE bench_payment SET status = 'succeeded', captured_at = now(), fee = 0.54, fee_currency = 'EUR', net = 9.45, net_currency = 'EUR' WHERE id = 'pay_' || :client_id || '_' || :n;
INSERT INTO bench_event (id, type, created_at, customer_id, actor_type, actor_id, actor_name, payload) VALUES ('evt_b' || :client_id || '_' || :n, 'payment.succeeded', now(), 'cus_x', '', '', '', '{"payment": {"id": "pay"}}');
UPDATE bench_invoice SET status = 'paid', paid_at = now(), attempt_count = 1 WHERE id = 'inv_' || :client_id || '_' || :n;
INSERT INTO bench_event (id, type, created_at, customer_id, actor_type, actor_id, actor_name, payload) VALUES ('evt_c' || :client_id || '_' || :n, 'invoice.paid', now(), 'cus_x', '', '', '', '{"invoice": {"id": "inv"}}');
UPDATE bench_sub SET cycles_billed = cycles_billed + 1, next_billing_at = now() + interval '1 month' WHERE id = :n;
INSERT INTO bench_event (id, type, created_at, customer_id, actor_type, actor_id, actor_name, payload) VALUES ('evt_d' || :client_id || '_' || :n, 'subscription.renewed', now(), 'cus_x', '', '', '', '{"subscription": {"id": "sub"}}');
COMMIT;
"""

SCRATCH_TABLES = {
    "bench_invoice": "payments_invoice",
    "bench_invoiceline": "payments_invoiceline",
    "bench_link": "plans_subscriptioninvoice",
    "bench_event": "integrations_event",
    "bench_payment": "payments_payment",
    "bench_attempt": "payments_paymentattempt",
    "bench_charge": "payments_sandboxcharge",
}


def pgbench_ceiling(url: str, renewals: int, clients: int) -> float:
    import psycopg

    binary = shutil.which("pgbench") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None
    )
    if binary is None:
        raise SystemExit("pgbench not found")
    with psycopg.connect(url, autocommit=True) as conn:
        for scratch, real in SCRATCH_TABLES.items():
            conn.execute(f"DROP TABLE IF EXISTS {scratch}")
            # Same columns, defaults, identity, CHECK constraints and indexes; LIKE copies no foreign keys.
            conn.execute(f"CREATE TABLE {scratch} (LIKE {real} INCLUDING ALL)")
        conn.execute("DROP TABLE IF EXISTS bench_sub")
        conn.execute("CREATE TABLE bench_sub (id bigint PRIMARY KEY, cycles_billed int, next_billing_at timestamptz)")
        conn.execute("INSERT INTO bench_sub SELECT g, 1, now() FROM generate_series(1, 1000000) g")
        conn.execute("DROP TABLE IF EXISTS bench_seq")
        conn.execute("CREATE TABLE bench_seq (year int PRIMARY KEY, last_number int)")
        conn.execute("INSERT INTO bench_seq VALUES (2026, 0)")
        conn.execute("ALTER TABLE bench_attempt ALTER COLUMN payment_id TYPE varchar(64)")
        conn.execute("ALTER TABLE bench_link ALTER COLUMN subscription_id TYPE varchar(64)")
        conn.execute("VACUUM ANALYZE")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    result = subprocess.run(
        [
            str(binary),
            "-n",
            "-f",
            script.name,
            "-c",
            str(clients),
            "-j",
            str(clients),
            "-t",
            str(max(1, renewals // clients)),
            "-h",
            parts.hostname,
            "-p",
            str(parts.port),
            "-U",
            parts.username or "postgres",
            parts.path.lstrip("/"),
        ],
        capture_output=True,
        text=True,
    )
    os.unlink(script.name)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    for line in result.stdout.splitlines():
        if line.startswith("tps") and "without initial connection time" in line:
            return float(line.split("=")[1].split()[0])
    for line in result.stdout.splitlines():
        if line.startswith("tps"):
            return float(line.split("=")[1].split()[0])
    raise SystemExit(result.stdout)


def empty_billing_tables(url: str) -> None:
    """Between two measurements: the customers and everything billed to them gone (the plan and
    the gateway account stay), so the second starts from the same tables as the first."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE payments_customer, integrations_event, payments_sandboxcard, payments_sandboxcharge,"
            " payments_taxregistration, django_q_ormq, django_q_task CASCADE"
        )
        conn.execute("VACUUM ANALYZE")


def measure(url: str, count: int, workers: int, *, taxed: bool) -> float:
    from payments.models import Invoice, Payment
    from plans.models import Subscription

    started = time.perf_counter()
    as_of = prepare(count, taxed=taxed)
    label = "tax on (eu_oss)" if taxed else "tax off"
    print(f"{label}: setup of {count} due subscriptions in {time.perf_counter() - started:.1f} s")
    elapsed, peak_mib = run_engine(url, workers, as_of)
    renewed = Subscription.objects.filter(cycles_billed=2).count()
    invoices = Invoice.objects.filter(status="paid").count()
    payments = Payment.objects.filter(status="succeeded").count()
    taxed_invoices = Invoice.objects.filter(status="paid", tax_total__gt=0).count()
    rate = renewed / elapsed
    print(
        f"{label}: {renewed} renewals in {elapsed:.2f} s with {workers} workers = {rate:.0f} renewals/s "
        f"(paid invoices {invoices}, of them taxed {taxed_invoices}; succeeded payments {payments}); "
        f"peak memory of a worker {peak_mib} MiB"
    )
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tax", choices=["both", "off", "on"], default="both")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each; off and on alternate")
    parser.add_argument(
        "--ceiling-sample", type=int, default=50_000, help="pgbench transactions at most (the ceiling is a rate)"
    )
    args = parser.parse_args()

    with postgres() as url:
        django_setup(url)
        print(f"migrate: {migrate():.1f} s")
        runs: dict[bool, list[float]] = {}
        modes = {"both": (False, True), "off": (False,), "on": (True,)}[args.tax]
        for _ in range(args.rounds):
            for taxed in modes:
                if runs:
                    empty_billing_tables(url)
                runs.setdefault(taxed, []).append(measure(url, args.subscriptions, args.workers, taxed=taxed))
        rates = {taxed: statistics.median(values) for taxed, values in runs.items()}
        for taxed, values in runs.items():
            shown = ", ".join(f"{value:.0f}" for value in values)
            print(f"{'tax on' if taxed else 'tax off'}: {shown} renewals/s, median {rates[taxed]:.0f}")
        if len(rates) == 2:
            print(f"tax on / tax off (medians): {rates[True] / rates[False]:.2f}")
        rate = rates[False] if False in rates else rates[True]
        ceiling = pgbench_ceiling(url, min(args.subscriptions, args.ceiling_sample), args.workers)
        print(f"plain-SQL ceiling (pgbench, same writes per renewal, {args.workers} clients): {ceiling:.0f} renewals/s")
        print(f"ratio: {rate / ceiling:.2f} of the ceiling ({'tax off' if False in rates else 'tax on'})")


if __name__ == "__main__":
    main()
