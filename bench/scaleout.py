"""Scale-out rehearsal: two gunicorn servers and two django-q2 clusters on a Redis broker against one
PostgreSQL, under renewals, checkouts and a code generation at once, with one of each killed mid-run.

    .venv/bin/python bench/scaleout.py [--renewals 10000] [--checkouts 1000] [--codes 200000] [--kill|--no-kill]

Redis is Debian's `redis-server` (`apt-get install -y redis-server`), started here on a free
loopback port with no persistence and stopped at the end; PostgreSQL is a throwaway cluster
(bench/_support.py). Both web servers and both clusters get REDIS_URL (django-q2's broker) and
CACHE_URL (the throttles' cache) on that Redis, with production settings (DEBUG off).

At once: N due renewals billed by the clusters (the real `plans.tasks.run_billing`, enqueued and
on its schedule), M one-off checkouts over HTTP spread over both servers (each with its own
Idempotency-Key; a connection error is retried with the same key on the other server, a 409
`idempotency_key_in_progress` is retried until --in-flight-patience), and one code generation
through the API, polled on its progress route. With --kill (the default), when a third of the
renewals or checkouts is done, one cluster and one server are SIGKILLed (their whole process
groups) and started again.

A run the killed cluster had claimed keeps its subscriptions for the engine's lease (10 min);
`--lease travel` (the default) then enqueues the engine, the payment sweep, the email outbox's sweep
and the code generations' sweep at as_of = now + 11 minutes, i.e. the ticks that come once the
leases have run out (tasks the killed cluster took with it are gone: Redis does not hand them
back); `--lease wait` waits for them for real.

Then everything drains and exactly-once is checked in SQL (and in the mail the workers sent, a
file-based email backend): PASS/FAIL per check, throughput, and a non-zero exit if a check fails.
Receipts go without their PDF (RECEIPTS_ATTACH_PDF=0: ~0.2 s of CPU each; --receipt-pdfs to keep it).
"""

import argparse
import contextlib
import email
import email.policy
import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from _support import ROOT, django_setup, free_port, migrate, postgres, wait_http

Q_LIST = "django_q:mediamanager:q"  # django-q2's Redis list for the cluster named "mediamanager"
BENCH_PLAN = "monthly-bench"  # bench/renewals.py's plan
RENEWAL_IDS = (
    f"SELECT s.id FROM plans_subscription s JOIN plans_plan p ON p.id = s.plan_id WHERE p.code = '{BENCH_PLAN}'"
)


# --- Processes ----------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server():
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit(
            "redis-server not found: install Debian's package (apt-get install -y redis-server); "
            "the rehearsal starts its own server on a free port."
        )
    import redis

    folder = Path(tempfile.mkdtemp(prefix="mmp-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(folder), "--logfile", str(folder / "redis.log")),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"redis-server did not answer on port {port}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


class Group:
    """A server or a cluster in its own session, so one signal reaches its forked children too."""

    def __init__(self, name: str, argv: list[str], env: dict, logs: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, logs / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 - the child holds it
        log.write(f"--- start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n")
        log.flush()
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.starts += 1

    def members(self) -> list[int]:
        out = subprocess.run(["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill(self) -> int:
        """SIGKILL to the whole process group: the master and every forked worker."""
        members = len(self.members())
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for _ in range(50):  # the workers die a moment after the master is reaped
            if not self.members():
                break
            time.sleep(0.1)
        return members

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def errors(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback")]


# --- The HTTP clients ---------------------------------------------------------------------------

RETRYABLE = (OSError, http.client.HTTPException)  # refused, reset, remote disconnected, timeout


@dataclass
class Answer:
    index: int
    key: str
    status: int | None = None
    body: dict | None = None
    tries: int = 0
    connection_errors: int = 0
    in_progress: int = 0
    servers: list[int] = field(default_factory=list)
    answered_at: float | None = None
    note: str = ""


class Client:
    """One client's connections to both servers: a request that meets a connection error is sent
    again, with the same Idempotency-Key, to the other server."""

    def __init__(self, ports: list[int]):
        self.ports = ports
        self.connections: dict[int, http.client.HTTPConnection] = {}

    def _send(self, port: int, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        connection = self.connections.get(port)
        if connection is None:
            connection = self.connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except BaseException:
            connection.close()
            self.connections.pop(port, None)
            raise

    def request(self, answer: Answer, method: str, path: str, payload: dict | None, headers: dict, *, patience: float):
        body = json.dumps(payload).encode() if payload is not None else None
        home = answer.index % len(self.ports)
        port = self.ports[home]
        first_in_progress = None
        deadline = time.monotonic() + patience + 120
        while time.monotonic() < deadline:
            answer.tries += 1
            answer.servers.append(port)
            try:
                status, raw = self._send(port, method, path, body, headers)
            except RETRYABLE:
                answer.connection_errors += 1
                port = self.ports[(self.ports.index(port) + 1) % len(self.ports)]  # the other server
                time.sleep(0.05 * min(answer.connection_errors, 20))
                continue
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                data = {"raw": raw[:200].decode(errors="replace")}
            code = (data.get("error") or {}).get("code") if isinstance(data, dict) else None
            if status == 409 and code == "idempotency_key_in_progress":
                answer.in_progress += 1
                first_in_progress = first_in_progress or time.monotonic()
                if time.monotonic() - first_in_progress > patience:
                    answer.status, answer.body, answer.note = status, data, "still in progress"
                    return answer
                time.sleep(min(2.0, 0.2 * answer.in_progress))
                port = self.ports[home]
                continue
            if status >= 500 or status == 429:  # not stored by the idempotency layer: retry
                time.sleep(0.5)
                continue
            answer.status, answer.body, answer.answered_at = status, data, time.monotonic()
            return answer
        answer.note = "gave up"
        return answer


def drive_checkouts(ports, plan_id, buyers, count, concurrency, patience, answers: list[Answer]):
    counter = iter(range(count))
    lock = threading.Lock()

    def worker():
        client = Client(ports)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            token, method = buyers[index]
            answer = Answer(index=index, key=f"scaleout-checkout-{index}")
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": answer.key,
            }
            client.request(
                answer,
                "POST",
                "/api/v1/me/checkout",
                {"plan": plan_id, "payment_method": method},
                headers,
                patience=patience,
            )
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    return threads


@dataclass
class Generation:
    requested: int
    posted: Answer | None = None
    public_id: str = ""
    status: str = ""
    generated: int = 0
    polls: int = 0
    poll_errors: int = 0
    inline_seconds: float | None = None
    done_at: float | None = None


def drive_codes(ports, api_key, coupon_id, count, generation: Generation, stop: threading.Event):
    client = Client(ports)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    answer = Answer(index=0, key="scaleout-codes")
    started = time.monotonic()
    client.request(
        answer,
        "POST",
        f"/api/v1/coupons/{coupon_id}/codes",
        {"count": count},
        {**headers, "Idempotency-Key": answer.key},
        patience=150,  # above the Idempotency-Key lease (90 s) a killed server leaves
    )
    generation.posted = answer
    if answer.status == 201:  # small enough to be made in the request (QUEUE_ABOVE)
        generation.status, generation.generated = "succeeded", answer.body.get("generated", 0)
        generation.inline_seconds, generation.done_at = time.monotonic() - started, time.monotonic()
        return
    if answer.status != 202:
        generation.status = f"http {answer.status}"
        return
    generation.public_id = answer.body["generation"]["id"]
    index = 0
    while not stop.is_set():
        index += 1
        poll = Answer(index=index, key="")
        client.request(
            poll,
            "GET",
            f"/api/v1/coupons/{coupon_id}/code-generations/{generation.public_id}",
            None,
            headers,
            patience=0,
        )
        generation.polls += 1
        if poll.status != 200:
            generation.poll_errors += 1
        else:
            generation.status, generation.generated = poll.body["status"], poll.body["generated"]
            if generation.status in ("succeeded", "failed"):
                generation.done_at = time.monotonic()
                return
        stop.wait(0.5)


# --- What the workers mailed --------------------------------------------------------------------

RECEIPT = re.compile(r"Receipt (\S+) ")


class Mailbox:
    """The file-based email backend writes one file per message sent (one connection each)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.seen: dict[str, tuple[int, list[str]]] = {}

    def receipts(self, *, by_message_id: bool = False) -> Counter:
        """Receipts mailed per invoice number (with by_message_id: distinct messages, a resend
        with the same Message-ID counted once, as a mail client shows it)."""
        numbers: Counter = Counter()
        for path in self.folder.glob("*.log"):
            size = path.stat().st_size
            cached = self.seen.get(path.name)
            if cached is None or cached[0] != size:
                cached = (size, self._numbers(path.read_bytes()))
                self.seen[path.name] = cached
            numbers.update(cached[1])
        if by_message_id:
            return Counter(number for number, _ in set(numbers.elements()))
        return Counter(number for number, _ in numbers.elements())

    @staticmethod
    def _numbers(data: bytes) -> list[str]:
        found = []
        for chunk in data.split(b"\n" + b"-" * 79 + b"\n"):
            if not chunk.strip():
                continue
            message = email.message_from_bytes(chunk, policy=email.policy.default)
            match = RECEIPT.match(str(message.get("Subject", "")))
            if match:
                found.append((match.group(1), str(message.get("Message-ID", ""))))
        return found


# --- The database side --------------------------------------------------------------------------


def sql(query: str, params=()) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def one(query: str, params=()):
    return sql(query, params)[0][0]


def progress_counts() -> dict:
    from django.utils import timezone

    now = timezone.now()
    return {
        "renewed": one(f"SELECT count(*) FROM plans_subscription WHERE cycles_billed >= 2 AND id IN ({RENEWAL_IDS})"),
        "due": one(
            "SELECT count(*) FROM plans_subscription WHERE next_billing_at <= %s AND status IN ('incomplete', "
            "'trialing', 'active', 'past_due')",
            [now],
        ),
        "processing": one("SELECT count(*) FROM payments_payment WHERE status = 'processing'"),
        "paid_renewals": one(
            "SELECT count(*) FROM plans_subscriptioninvoice l JOIN payments_invoice i ON i.id = l.invoice_id "
            "WHERE l.purpose = 'renewal' AND i.status = 'paid'"
        ),
    }


def check(results: list, name: str, ok: bool, detail: str) -> None:
    results.append((name, ok, detail))
    print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")


def run_checks(*, args, answers, generation, mailbox, coupon_id, checkout_customers, drained) -> list:
    from coupons.models import CouponCode

    results: list = []
    print("checks:")
    check(
        results,
        "drained",
        drained,
        "nothing due, every checkout answered, generation done, q2 queue empty, receipts in",
    )

    # 1. No double charge.
    twice_paid = sql(
        "SELECT invoice_id, count(*) FROM payments_payment WHERE status IN ('succeeded', 'partially_refunded', "
        "'refunded') GROUP BY invoice_id HAVING count(*) > 1"
    )
    charged_twice = sql(
        "SELECT p.invoice_id, count(*) FROM payments_sandboxcharge c "
        "JOIN payments_paymentattempt a ON a.idempotency_key = c.idempotency_key "
        "JOIN payments_payment p ON p.id = a.payment_id WHERE c.status = 'succeeded' "
        "GROUP BY p.invoice_id HAVING count(*) > 1"
    )
    orphans = one(
        "SELECT count(*) FROM payments_sandboxcharge c WHERE c.status = 'succeeded' AND NOT EXISTS "
        "(SELECT 1 FROM payments_paymentattempt a WHERE a.idempotency_key = c.idempotency_key)"
    )
    charges = one("SELECT count(*) FROM payments_sandboxcharge WHERE status = 'succeeded'")
    paid = one("SELECT count(*) FROM payments_invoice WHERE status = 'paid' AND total > 0")
    periods_twice = sql(
        "SELECT subscription_id, period_start, count(*) FROM plans_subscriptioninvoice WHERE purpose = 'renewal' "
        "GROUP BY subscription_id, period_start HAVING count(*) > 1"
    )
    check(
        results,
        "no double charge",
        not twice_paid and not charged_twice and not orphans and not periods_twice and charges == paid,
        f"{charges} succeeded sandbox charges for {paid} paid invoices; invoices with two succeeded payments "
        f"{len(twice_paid)}, with two succeeded charges {len(charged_twice)}; charges with no attempt row {orphans}; "
        f"subscription periods with two renewal invoices {len(periods_twice)}",
    )

    # 2. No lost checkout: every 201's invoice and payment exist and are paid; one invoice per key
    # (each checkout has a customer of its own, so the key's invoices are that customer's).
    ok_answers = [a for a in answers if a.status == 201]
    lost = []
    for answer in ok_answers:
        invoice_id = (answer.body.get("invoice") or {}).get("id")
        payment_id = (answer.body.get("payment") or {}).get("id")
        row = sql(
            "SELECT i.status, p.status FROM payments_invoice i JOIN payments_payment p ON p.invoice_id = i.id "
            "WHERE i.id = %s AND p.id = %s",
            [invoice_id, payment_id],
        )
        if row != [("paid", "succeeded")]:
            lost.append((answer.key, invoice_id, row))
    per_key = dict(
        sql(
            "SELECT c.id, count(i.id) FROM payments_customer c LEFT JOIN payments_invoice i ON i.customer_id = c.id "
            "WHERE c.id = ANY(%s) GROUP BY c.id",
            [list(checkout_customers.values())],
        )
    )
    answered_keys = Counter(per_key.get(checkout_customers[a.index], 0) for a in ok_answers)
    more_than_one = sum(1 for n in per_key.values() if n > 1)
    check(
        results,
        "no lost checkout that answered 201",
        not lost and set(answered_keys) <= {1} and not more_than_one,
        f"{len(ok_answers)} answered 201, of them not paid in the database {len(lost)}; their Idempotency-Keys "
        f"with exactly one invoice {answered_keys.get(1, 0)} of {len(ok_answers)}; keys (of all {args.checkouts}) "
        f"with more than one invoice {more_than_one}",
    )
    for key, invoice_id, row in lost[:5]:
        print(f"        {key}: invoice {invoice_id} -> {row}")
    unanswered = [a for a in answers if a.status != 201]
    stuck = one("SELECT count(*) FROM integrations_idempotencykey WHERE state = 'in_flight'")
    charged_unanswered = []
    for answer in unanswered:
        rows = sql(
            "SELECT i.id, i.status FROM payments_invoice i WHERE i.customer_id = %s",
            [checkout_customers[answer.index]],
        )
        charged_unanswered.append((answer, rows))
    check(
        results,
        "every checkout answered 201",
        not unanswered and len(answers) == args.checkouts,
        f"{len(ok_answers)} of {args.checkouts}"
        + (
            f"; not answered: {len(unanswered)} (Idempotency-Key rows left in_flight: {stuck}), of them already "
            "charged (invoice paid) "
            f"{sum(1 for _, rows in charged_unanswered if any(s == 'paid' for _, s in rows))}"
            if unanswered
            else ""
        ),
    )
    for answer, rows in charged_unanswered[:10]:
        print(
            f"        {answer.key}: last answer {answer.status} {json.dumps(answer.body)[:120]} after {answer.tries} tries "
            f"({answer.connection_errors} connection errors, {answer.in_progress} x 409 in progress); "
            f"its invoices: {rows or 'none'}"
        )

    # 3. Every subscription renewed exactly once.
    wrong = sql(
        f"SELECT s.id, s.cycles_billed, (SELECT count(*) FROM plans_subscriptioninvoice l JOIN payments_invoice i ON "
        f"i.id = l.invoice_id WHERE l.subscription_id = s.id AND l.purpose = 'renewal' AND i.status = 'paid') "
        f"FROM plans_subscription s WHERE s.id IN ({RENEWAL_IDS})"
    )
    bad = [row for row in wrong if row[1] != 2 or row[2] != 1]
    check(
        results,
        "every subscription renewed exactly once",
        not bad and len(wrong) == args.renewals,
        f"{len(wrong) - len(bad)} of {args.renewals} with cycles_billed 2 and one paid renewal invoice"
        + (f"; wrong: {len(bad)} (first {bad[:3]})" if bad else ""),
    )

    # 4. Codes unique, exactly the requested count.
    codes = CouponCode.objects.filter(coupon_id=coupon_id)
    total, distinct = codes.count(), codes.values("code").distinct().count()
    check(
        results,
        "codes unique and exactly the requested count",
        total == distinct == args.codes and generation.status == "succeeded",
        f"{total} codes, {distinct} distinct, {args.codes} requested; generation {generation.public_id or '(inline)'} "
        f"{generation.status or 'never answered'}, {generation.generated} generated",
    )

    # 5. Every receipt sent once.
    expected = {
        number
        for (number,) in sql(
            "SELECT i.number FROM plans_subscriptioninvoice l JOIN payments_invoice i ON i.id = l.invoice_id "
            "WHERE l.purpose = 'renewal' AND i.status = 'paid'"
        )
    }
    sent, messages = mailbox.receipts(), mailbox.receipts(by_message_id=True)
    missing = expected - set(sent)
    twice = {number: n for number, n in messages.items() if n > 1}
    resent = sum(sent.values()) - sum(messages.values())
    stray = set(sent) - expected
    check(
        results,
        "every receipt sent once",
        not missing and not twice and not stray,
        f"{len(expected)} paid renewal invoices, {sum(sent.values())} receipts mailed; missing {len(missing)}, "
        f"two different messages for one invoice {len(twice)}, for no paid renewal {len(stray)}; "
        f"resent with the same Message-ID (a worker killed after SMTP took it; shown once) {resent}",
    )
    if missing:
        print(f"        missing receipts: {min(missing)} .. {max(missing)} (first {sorted(missing)[:3]})")
    return results


# --- The run ------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renewals", type=int, default=10_000)
    parser.add_argument("--checkouts", type=int, default=1_000)
    parser.add_argument("--codes", type=int, default=200_000, help="one generation of this many codes")
    parser.add_argument("--kill", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--kill-at", type=float, default=0.3, help="kill when this share of renewals or checkouts is done"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="checkout client connections")
    parser.add_argument("--billing-tasks", type=int, default=2, help="run_billing tasks enqueued at the start")
    parser.add_argument("--lease", choices=["travel", "wait"], default="travel")
    parser.add_argument(
        "--in-flight-patience", type=float, default=150, help="seconds a client retries a 409 in progress"
    )
    parser.add_argument("--stall", type=float, default=45, help="seconds without progress before giving up draining")
    parser.add_argument("--receipt-pdfs", action="store_true", help="attach the invoice PDF to receipts (slow)")
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="mmp-scaleout-"))
    maildir = logs / "mail"
    maildir.mkdir()
    with redis_server() as redis_url, postgres() as url:
        os.environ.update(
            {
                "DEBUG": "0",
                "REDIS_URL": f"{redis_url}/0",
                "CACHE_URL": f"{redis_url}/1",
                "EMAIL_URL": f"filemail:///{maildir}",  # four slashes: an absolute path
                "RECEIPTS_ATTACH_PDF": "1" if args.receipt_pdfs else "0",
                "BILLING_ALLOW_TIME_TRAVEL": "1",
                "CONN_MAX_AGE": "600",
                "Q_WORKERS": "2",
            }
        )
        django_setup(url)
        outcome = rehearse(args, url, redis_url, logs, maildir)
    print(f"logs and mail: {logs}")
    sys.exit(0 if outcome else 1)


def rehearse(args, url, redis_url, logs: Path, maildir: Path) -> bool:
    import redis
    from checkout import prepare as checkout_prepare
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import Task
    from django_q.status import Stat
    from django_q.tasks import async_task
    from renewals import prepare as renewals_prepare

    from coupons.services import coupon_create
    from integrations.kernel.api_keys import api_key_create
    from payments.models import PaymentMethod
    from plans.services.renewal import CLAIM_LEASE

    # Redis as the broker and as the cache, as production runs them.
    broker = get_broker()
    cache.set("scaleout-probe", "ok", 30)
    broker_redis, cache_redis = redis.from_url(f"{redis_url}/0"), redis.from_url(f"{redis_url}/1")
    print(
        f"redis {broker.info()} on {redis_url}: broker {type(broker).__module__}.{type(broker).__name__} "
        f"(db 0), cache {settings.CACHES['default']['BACKEND']} (db 1, probe {cache.get('scaleout-probe')!r}, "
        f"{len(cache_redis.keys('*scaleout-probe'))} key in Redis); redis-py {redis.__version__}"
    )
    print(f"migrate: {migrate():.1f} s")
    call_command("setup_schedules", stdout=io.StringIO())
    started = time.perf_counter()
    plan_id, buyers = checkout_prepare(args.checkouts)  # first: it gives a card to every customer there is
    methods = dict(PaymentMethod.objects.filter(id__in=[m for _, m in buyers]).values_list("id", "customer_id"))
    checkout_customers = {index: methods[method] for index, (_, method) in enumerate(buyers)}
    renewals_prepare(args.renewals)
    coupon = coupon_create(
        name="Scale-out",
        kind="bulk",
        code_template="SCALE-*********",
        discount={"type": "percent", "percent_off": "10"},
    )
    api_key, _ = api_key_create(name="scaleout")
    print(
        f"setup: {args.renewals} due subscriptions, {args.checkouts} buyers (one per checkout), a bulk campaign, "
        f"{time.perf_counter() - started:.1f} s"
    )

    env = dict(os.environ)
    ports = [free_port(), free_port()]
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    webs = [
        Group(
            f"web{i}",
            # Two masters on one host: each its own control socket (gunicorn 27 defaults both to ~/.gunicorn).
            [
                *(gunicorn, "mediamanager.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"),
                *("--control-socket", str(logs / f"web{i}.ctl")),
            ],
            env,
            logs,
        )
        for i, port in enumerate(ports)
    ]
    clusters = [Group(f"q2-{i}", [sys.executable, "manage.py", "qcluster"], env, logs) for i in range(2)]
    groups = webs + clusters
    answers: list[Answer] = []
    generation = Generation(requested=args.codes)
    stop = threading.Event()
    mailbox = Mailbox(maildir)
    try:
        for group in groups:
            group.start()
        for port in ports:
            wait_http(port)
        deadline = time.monotonic() + 60
        while len(Stat.get_all(broker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        print(
            f"up: 2 gunicorn servers x 2 workers (ports {ports[0]}, {ports[1]}), "
            f"{len(Stat.get_all(broker))} django-q2 clusters x {settings.Q_CLUSTER['workers']} workers, one PostgreSQL"
        )

        # --- Everything at once.
        t0 = time.monotonic()
        for _ in range(args.billing_tasks):
            async_task("plans.tasks.run_billing", task_name="scaleout-run-billing")
        threads = drive_checkouts(
            ports, plan_id, buyers, args.checkouts, args.concurrency, args.in_flight_patience, answers
        )
        codes_thread = threading.Thread(
            target=drive_codes, args=(ports, api_key, coupon.id, args.codes, generation, stop), daemon=True
        )
        codes_thread.start()

        killed_at, lease_at, drained, as_of = None, None, False, None
        kill_report = ""
        last_change, last_snapshot = time.monotonic(), None
        renewals_done_at = None
        before_lease = (0, t0)  # renewals done, and when the last one was seen, before any lease step
        last_print = last_mail = t0
        receipts, throttle_keys = 0, 0
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            counts = progress_counts()
            answered = len(answers)
            clients_done = not any(thread.is_alive() for thread in threads)
            queued = broker_redis.llen(Q_LIST)
            if now - last_mail >= 2:  # ten thousand small files: not every half second
                last_mail = now
                receipts = sum(mailbox.receipts().values())
                # The throttles' counters live a minute: counted while the load runs, not after.
                throttle_keys = max(throttle_keys, len(cache_redis.keys("*throttle_credential_*")))
            receipts_expected = counts["paid_renewals"]
            snapshot = (
                counts["renewed"],
                counts["processing"],
                answered,
                generation.status,
                generation.generated,
                receipts,
                queued,
            )
            if snapshot != last_snapshot:
                last_snapshot, last_change = snapshot, now
                if counts["renewed"] == args.renewals and renewals_done_at is None:
                    renewals_done_at = now
                if lease_at is None and counts["renewed"] > before_lease[0]:
                    before_lease = (counts["renewed"], now)
            if (
                args.kill
                and killed_at is None
                and (counts["renewed"] >= args.kill_at * args.renewals or answered >= args.kill_at * args.checkouts)
            ):
                killed_at = now
                web_members, cluster_members = webs[0].kill(), clusters[0].kill()
                kill_report = (
                    f"at {now - t0:.1f} s ({counts['renewed']} renewed, {answered} checkouts answered, codes "
                    f"{generation.status or 'posted'} {generation.generated}): SIGKILL to web0's group "
                    f"({web_members} processes) and q2-0's group ({cluster_members} processes)"
                )
                print(f"kill {kill_report}")
                time.sleep(2)
                webs[0].start()
                clusters[0].start()
                wait_http(ports[0])
                restarted = time.monotonic() - t0
                kill_report += f"; both started again 2 s later, web0 answering /healthz at {restarted:.1f} s"
                print(f"  restarted both, web0 answering /healthz at {restarted:.1f} s")
            if now - last_print >= 5:
                last_print = now
                print(
                    f"  {now - t0:5.0f} s: renewed {counts['renewed']}/{args.renewals} (due {counts['due']}, "
                    f"processing payments {counts['processing']}), checkouts answered {answered}/{args.checkouts}, "
                    f"codes {generation.status or '-'} {generation.generated}, receipts {receipts}/{receipts_expected}, "
                    f"q2 queue {queued}"
                )
            done = (
                counts["renewed"] == args.renewals
                and counts["due"] == 0
                and counts["processing"] == 0
                and clients_done
                and generation.status in ("succeeded", "failed")
                and queued == 0
                and receipts >= receipts_expected
            )
            if done and now - last_change > 3:  # and nothing moved for 3 s: no task still running
                drained = True
                break
            stalled = now - last_change
            if (
                lease_at is None
                and killed_at is not None
                and clients_done
                and counts["due"] == 0
                and (
                    counts["renewed"] < args.renewals
                    or counts["processing"]
                    or receipts < receipts_expected
                    or generation.status not in ("succeeded", "failed")
                )
                and stalled > 10
            ):
                if args.lease == "travel":
                    as_of = timezone.now() + CLAIM_LEASE + timedelta(minutes=1)
                    async_task("plans.billing.run_billing", as_of=as_of, max_seconds=240, task_name="scaleout-lease")
                    async_task("payments.services.payments_reconcile", as_of=as_of, task_name="scaleout-reconcile")
                    # The sweeps for tasks the killed cluster took with it (Redis does not hand them back).
                    async_task("plans.tasks.emails_unsent_send", as_of=as_of, task_name="scaleout-emails")
                    async_task("coupons.tasks.code_generations_resume_task", as_of=as_of, task_name="scaleout-codes")
                    print(
                        f"  lease step at {now - t0:.1f} s: {args.renewals - counts['renewed']} subscriptions held by "
                        f"the killed run, {counts['processing']} payments processing; the engine and the payment "
                        f"sweep enqueued at as_of {as_of:%H:%M:%S} (now + lease + 1 min)"
                    )
                lease_at, last_change = now, now
            elif lease_at is not None and args.lease == "travel" and counts["processing"] and stalled > 10:
                # The payment sweep takes 500 payments a tick (payments_reconcile): the next tick.
                as_of += timedelta(minutes=5)
                async_task("payments.services.payments_reconcile", as_of=as_of, task_name="scaleout-reconcile")
                print(
                    f"  {counts['processing']} payments still processing: the next sweep tick, as_of {as_of:%H:%M:%S}"
                )
                last_change = now
            limit = args.stall if lease_at is None or args.lease == "travel" else CLAIM_LEASE.total_seconds() + 420
            if clients_done and stalled > limit:
                print(f"  no progress for {stalled:.0f} s: giving up draining")
                break
        wall = time.monotonic() - t0
    finally:
        stop.set()
        for group in groups:
            group.stop()

    # --- Figures.
    ok = [a for a in answers if a.status == 201]
    print(f"wall time: {wall:.1f} s from the start of the load to drained ({'yes' if drained else 'NO'})")
    if kill_report:
        print(f"killed {kill_report}")
    renewed = progress_counts()["renewed"]
    count, seen = before_lease
    if count and seen > t0:
        print(
            f"renewals: {count} by the clusters in {seen - t0:.1f} s = {count / (seen - t0):.0f} renewals/s"
            + (f" (before the lease step; {renewed - count} more after it)" if lease_at is not None else "")
        )
    if renewals_done_at:
        print(f"renewals: all {renewed} done at {renewals_done_at - t0:.1f} s")
    else:
        print(f"renewals: {renewed} of {args.renewals} (not all)")
    if ok:
        last = max(a.answered_at for a in ok)
        retried = [a for a in answers if a.connection_errors]
        print(
            f"checkouts: {len(ok)} answered 201 in {last - t0:.1f} s = {len(ok) / (last - t0):.1f} checkouts/s "
            f"({args.concurrency} connections over 2 servers); retried on the other server after a connection "
            f"error: {len(retried)}; met 409 in progress: {sum(1 for a in answers if a.in_progress)}; "
            f"other answers: {dict(Counter(a.status for a in answers if a.status != 201))}"
        )
    from coupons.models import CodeGeneration

    row = CodeGeneration.objects.filter(public_id=generation.public_id).first() if generation.public_id else None
    if row is not None and row.finished_at:
        seconds = (row.finished_at - row.created_at).total_seconds()
        print(
            f"codes: {row.generated} in {seconds:.1f} s from the request to the end (queued, then a q2 task) = "
            f"{row.generated / seconds:,.0f} codes/s; progress polled {generation.polls} times"
        )
    elif generation.inline_seconds:
        print(
            f"codes: {generation.generated} in the request itself (<= 10,000 runs inline), {generation.inline_seconds:.1f} s"
        )
    else:
        print(f"codes: generation {generation.public_id} {row.status if row else '?'} {row.generated if row else 0}")
    failed = Task.objects.filter(success=False)
    names = Counter(task.func for task in Task.objects.all())
    print(f"q2 tasks recorded done: {dict(names)}; failed: {[(t.func, str(t.result)[:200]) for t in failed[:5]]}")
    print(
        f"throttles: up to {throttle_keys} per-credential counters at once in Redis db 1, one per client credential, "
        "shared by both servers"
    )
    for group in groups:
        errors = group.errors()
        if errors:
            print(f"{group.name} logged {len(errors)} errors, first: {errors[0][:200]}")

    results = run_checks(
        args=args,
        answers=answers,
        generation=generation,
        mailbox=mailbox,
        coupon_id=coupon.id,
        checkout_customers=checkout_customers,
        drained=drained,
    )
    passed = all(ok for _, ok, _ in results)
    print(f"{'PASS' if passed else 'FAIL'}: {sum(ok for _, ok, _ in results)} of {len(results)} checks passed")
    return passed


if __name__ == "__main__":
    main()
