"""Bulk coupon codes generated per second on PostgreSQL, and in the same run the ceiling: a plain
COPY of the same number of rows into a scratch table with the same columns and indexes.

    .venv/bin/python bench/codes.py --count 1000000 [--via-api]

`codes_generate` runs as the API's task does (one transaction, batches COPYed into a temp table,
INSERT ... SELECT ... ON CONFLICT (code) DO NOTHING, collisions redrawn). The ceiling COPYs rows
prepared beforehand (not timed) straight into `LIKE coupons_couponcode INCLUDING ALL`: no
uniqueness check beyond the index, no drawing, no foreign key.

`--via-api` first measures it as a client app does: gunicorn and the django-q2 worker (as in
production, ORM broker) started against the database, a bulk campaign made with
`POST /api/v1/coupons`, then `POST /api/v1/coupons/{id}/codes {count}` (202) and the
generation polled (`GET .../code-generations/{cgn_id}`, every 50 ms, each poll timed) until it
succeeds: the time from the POST to the last code stored.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from _support import ROOT, django_setup, free_port, migrate, percentile, postgres, wait_http


def generate(count: int) -> tuple[float, int]:
    from coupons.services import coupon_create
    from coupons.services.generation import codes_generate

    # Nine random positions: eight hold 852,891 codes at most (one guess in a million may hit).
    coupon = coupon_create(
        name="Bench", kind="bulk", code_template="BENCH-*********", discount={"type": "percent", "percent_off": "10"}
    )
    started = time.perf_counter()
    generated = codes_generate(coupon=coupon, count=count)
    return time.perf_counter() - started, generated


def _call(port: int, key: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def via_api(url: str, count: int) -> tuple[float, list[float], int]:
    """Seconds from the POST to the generation's success, the polls' latencies (ms), codes stored."""
    from coupons.models import CouponCode
    from integrations.kernel.api_keys import api_key_create

    key, _ = api_key_create(name="bench", scopes=["read", "coupons:write"])
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "CONN_MAX_AGE": "600"}
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "mediamanager.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_http(port)
        time.sleep(3)  # the worker's start-up (Django's import) is not the generation's time
        _, coupon = _call(port, key, "POST", "/api/v1/coupons", {
            "name": "Bench via API", "kind": "bulk", "code_template": "API-*********",
            "discount": {"type": "percent", "percent_off": "10"},
        })  # fmt: skip
        started = time.perf_counter()
        status, answer = _call(port, key, "POST", f"/api/v1/coupons/{coupon['id']}/codes", {"count": count})
        assert status == 202, (status, answer)
        generation = answer["generation"]
        polls = []
        while generation["status"] not in ("succeeded", "failed"):
            time.sleep(0.05)
            polled = time.perf_counter()
            _, generation = _call(
                port, key, "GET", f"/api/v1/coupons/{coupon['id']}/code-generations/{generation['id']}"
            )
            polls.append((time.perf_counter() - polled) * 1000)
        elapsed = time.perf_counter() - started
        print(f"  generation: {generation}")
        assert generation["status"] == "succeeded", generation
    finally:
        for process in (web, worker):
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:  # qcluster waits for its idle workers' next poll
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return elapsed, polls, CouponCode.objects.filter(coupon_id=coupon["id"]).count()


def drawing(count: int) -> float:
    """The Python side alone: drawing codes and ids and building the COPY text."""
    from coupons.services.generation import _ids, codes_draw

    started = time.perf_counter()
    codes = codes_draw(template="BENCH-*********", n=count)
    ids = _ids(count)
    "".join(f"{code_id}\t{code}\n" for code_id, code in zip(ids, codes, strict=True))
    return time.perf_counter() - started


def plain_copy(url: str, count: int, *, in_code_order: bool) -> float:
    import psycopg

    from coupons.services.generation import _ids, codes_draw

    codes = list(dict.fromkeys(codes_draw(template="PLAIN-********", n=count)))
    while len(codes) < count:  # a collision among a million random codes is likely
        codes = list(dict.fromkeys(codes + codes_draw(template="PLAIN-********", n=count - len(codes))))
    ids = _ids(count)
    if in_code_order:
        codes, ids = sorted(codes), sorted(ids)
    data = "".join(
        f"{code_id}\tcpn_plain\t{code}\tf\tredeemable\t\\N\t\\N\t\t2026-01-01 00:00:00+00\n"
        for code_id, code in zip(ids, codes, strict=True)
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_codes")
        # Same columns, CHECK constraint and all eight indexes; LIKE copies no foreign key.
        conn.execute("CREATE TABLE bench_codes (LIKE coupons_couponcode INCLUDING ALL)")
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY bench_codes (id, coupon_id, code, shared, state, redeemed_by_id, redeemed_at, "
                "subscription_id, created_at) FROM STDIN"
            ) as copy,
        ):
            copy.write(data)
        conn.commit()
        elapsed = time.perf_counter() - started
        copied = conn.execute("SELECT count(*) FROM bench_codes").fetchone()[0]
    assert copied == count, copied
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--via-api", action="store_true", help="also through the API and the worker, first")
    args = parser.parse_args()

    with postgres() as url:
        django_setup(url)
        print(f"migrate: {migrate():.1f} s")
        if args.via_api:
            elapsed, polls, stored = via_api(url, args.count)
            print(
                f"via the API: {stored} codes stored in {elapsed:.2f} s = {stored / elapsed:,.0f} codes/s "
                f"(POST to the generation's success); {len(polls)} progress polls, "
                f"p50 {percentile(polls, 0.5):.1f} ms, p99 {percentile(polls, 0.99):.1f} ms, max {max(polls):.1f} ms"
            )
        elapsed, generated = generate(args.count)
        rate = generated / elapsed
        print(f"codes_generate: {generated} codes in {elapsed:.2f} s = {rate:,.0f} codes/s")

        from coupons.models import CouponCode

        distinct = CouponCode.objects.values("code").distinct().count()
        print(f"  check: {distinct} distinct codes in the table")
        python_side = drawing(args.count)
        print(f"  of which drawing codes and ids and building the COPY text: {python_side:.2f} s")
        rates = {}
        for label, in_code_order in (("in code order", True), ("in random order", False)):
            copy_elapsed = plain_copy(url, args.count, in_code_order=in_code_order)
            rates[label] = args.count / copy_elapsed
            print(
                f"plain COPY {label} (same columns and indexes): {args.count} rows in {copy_elapsed:.2f} s "
                f"= {rates[label]:,.0f} rows/s"
            )
        best = max(rates.values())
        print(
            f"ratio: {rate / best:.2f} of the faster plain COPY rate ({rate / min(rates.values()):.2f} of the slower)"
        )


if __name__ == "__main__":
    main()
