"""Bulk coupon codes generated per second on PostgreSQL, and in the same run the ceiling: a plain
COPY of the same number of rows into a scratch table with the same columns and indexes.

    .venv/bin/python bench/codes.py --count 1000000

`codes_generate` runs as the API's task does (one transaction, batches COPYed into a temp table,
INSERT ... SELECT ... ON CONFLICT (code) DO NOTHING, collisions redrawn). The ceiling COPYs rows
prepared beforehand (not timed) straight into `LIKE coupons_couponcode INCLUDING ALL`: no
uniqueness check beyond the index, no drawing, no foreign key.
"""

import argparse
import time

from _support import django_setup, migrate, postgres


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
    args = parser.parse_args()

    with postgres() as url:
        django_setup(url)
        print(f"migrate: {migrate():.1f} s")
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
