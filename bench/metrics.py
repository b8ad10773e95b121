"""Time of the metrics endpoints with a million subscriptions on PostgreSQL.

    .venv/bin/python bench/metrics.py [--subscriptions 1000000] [--days 365] [--repeat 30]

Setup, not timed (its time is printed): customers, subscriptions (EUR and JPY), a year of MRR
movements (each subscription's `new`, and some churn, today's ~1/365 of them among them), the daily
snapshot rows and a year of 50 coupon campaigns' daily rows, loaded with COPY. Then each endpoint is called
`--repeat` times through the Django test client with the real URL conf and an API key (`read`
scope), and the dashboard (the admin index) as a finance staff member: median and 95th percentile
in ms. The plans of the queries are printed (EXPLAIN ANALYZE).
"""

import argparse
import datetime as dt
import io
import random
import time
from decimal import Decimal

from _support import django_setup, migrate, percentile, postgres

CURRENCIES = (("EUR", Decimal("9.99")), ("JPY", Decimal("1000")))
CAMPAIGNS = 50


def _cell(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def copy_rows(model, rows) -> int:
    """COPY dicts of field values into the model's table; the fields left out take their default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.get_internal_type() == "BigAutoField")]
    now = dt.datetime.now(dt.UTC)
    defaults = {}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults[f.attname] = now
        else:
            defaults[f.attname] = f.get_default()  # "" for a text column without a default, else None
    columns = ", ".join(f'"{f.column}"' for f in fields)
    written = 0
    connection.ensure_connection()
    table = model._meta.db_table
    with connection.connection.cursor() as cursor, cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_cell(row.get(f.attname, defaults[f.attname])) for f in fields])
            written += 1
    return written


def load(count: int, days: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from payments.models import Customer
    from plans.models import CampaignSnapshot, MetricSnapshot, MrrMovement, Subscription
    from plans.services import plan_create

    random.seed(7)
    plan = plan_create(
        code="bench-monthly",
        name="Monthly",
        kind="recurring",
        interval="month",
        prices=[{"amount": str(a), "currency": c} for c, a in CURRENCIES],
    )
    prices = {p.currency: p for p in plan.prices.all()}
    now = timezone.now()
    today = now.date()
    first_day = today - dt.timedelta(days=days - 1)
    started = time.perf_counter()

    def customers():
        for i in range(count):
            currency = "EUR" if i % 5 else "JPY"
            yield {
                "id": f"cus_bench{i:010d}",
                "external_id": f"b-{i}",
                "email": f"b{i}@example.com",
                "country": "DE" if currency == "EUR" else "JP",
                "currency": currency,
            }

    copy_rows(Customer, customers())
    churned = set(random.sample(range(count), count // 20))  # 5% churned during the year

    def start_of(i):
        # Spread over the year; every 365th of them today.
        offset = i % days
        return dt.datetime.combine(first_day + dt.timedelta(days=offset), dt.time(12), tzinfo=dt.UTC)

    def subscriptions():
        for i in range(count):
            currency = "EUR" if i % 5 else "JPY"
            price = prices[currency]
            begun = start_of(i)
            gone = i in churned
            end = begun + dt.timedelta(days=30)
            yield {
                "id": f"sub_bench{i:010d}",
                "customer_id": f"cus_bench{i:010d}",
                "plan_id": plan.id,
                "price_id": price.pk,
                "currency": currency,
                "status": "canceled" if gone else "active",
                "current_period_start": begun,
                "current_period_end": end,
                "cycles_billed": 1,
                "ended_at": end if gone else None,
                "canceled_at": end if gone else None,
                "next_billing_at": None if gone else end,
                "mrr": 0 if gone else price.amount.amount,
                "created_at": begun,
                "updated_at": begun,
            }

    copy_rows(Subscription, subscriptions())

    def movements():
        for i in range(count):
            currency = "EUR" if i % 5 else "JPY"
            amount = prices[currency].amount.amount
            begun = start_of(i)
            common = {
                "subscription_id": f"sub_bench{i:010d}",
                "customer_id": f"cus_bench{i:010d}",
                "currency": currency,
            }
            yield {
                **common,
                "kind": "new",
                "amount": amount,
                "mrr_before": 0,
                "mrr_after": amount,
                "occurred_at": begun,
                "service_period_start": begun,
                "created_at": begun,
            }
            end = begun + dt.timedelta(days=30)
            if i in churned and end.date() <= today:
                yield {
                    **common,
                    "kind": "churn",
                    "amount": amount,
                    "mrr_before": amount,
                    "mrr_after": 0,
                    "occurred_at": end,
                    "service_period_start": end,
                    "created_at": end,
                }

    moved = copy_rows(MrrMovement, movements())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # The snapshot rows, as the daily task writes them (computed from the movements, per day).
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT currency, (occurred_at AT TIME ZONE 'UTC')::date AS day, kind, sum(amount), count(*)
               FROM plans_mrrmovement GROUP BY 1, 2, 3"""
        )
        flows = {}
        for currency, day, kind, total, n in cursor.fetchall():
            flows.setdefault((currency, day), {})[kind] = (total, n)
    snapshots = []
    for currency, _ in CURRENCIES:
        mrr, paying, day = Decimal(0), 0, first_day
        while day < today:
            flow = flows.get((currency, day), {})
            new, new_n = flow.get("new", (Decimal(0), 0))
            churn, churn_n = flow.get("churn", (Decimal(0), 0))
            mrr += new - churn
            paying += new_n - churn_n
            snapshots.append(
                {
                    "day": day,
                    "currency": currency,
                    "mrr": mrr,
                    "active_subscriptions": paying,
                    "paying_customers": paying,
                    "new": new,
                    "new_count": new_n,
                    "churn": churn,
                    "churn_count": churn_n,
                    "revenue": new,
                    "computed_at": now,
                }
            )
            day += dt.timedelta(days=1)
    copy_rows(MetricSnapshot, snapshots)
    campaign_rows = copy_rows(CampaignSnapshot, campaign_days(first_day, today))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {
        "seconds": time.perf_counter() - started,
        "movements": moved,
        "snapshots": len(snapshots),
        "campaign_rows": campaign_rows,
        "first_day": first_day,
    }


def campaign_days(first_day: dt.date, today: dt.date) -> list[dict]:
    """CAMPAIGNS coupon campaigns, each with a day's row per currency for every day of the year (as
    the snapshot task writes them): a few redemptions and the discounts they gave. A list, not a
    generator: the campaigns are made before the COPY starts on the connection."""
    from coupons.services import coupon_create

    coupons = [
        coupon_create(
            name=f"Campaign {n}",
            kind="single_code",
            code=f"BENCH{n}",
            discount={"type": "percent", "percent_off": "10"},
            duration="forever",
        )
        for n in range(CAMPAIGNS)
    ]
    days = [first_day + dt.timedelta(days=n) for n in range((today - first_day).days + 1)]
    return [
        {
            "day": day,
            "coupon_id": coupon.id,
            "currency": currency,
            "redemptions": random.randint(0, 40),
            "discount_given": amount * random.randint(0, 40),
        }
        for day in days
        for coupon in coupons
        for currency, amount in CURRENCIES
    ]


def explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        return "\n".join("    " + row[0] for row in cursor.fetchall())


def _finance_staff_client():
    """A finance staff member past the second factor (as conftest's sign_in_verified does)."""
    import django_otp
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.http import HttpRequest
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    call_command("setup_roles", stdout=io.StringIO())
    user = User.objects.create_user("bench-finance", password="long-enough-password", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    client.force_login(user)
    request = HttpRequest()
    request.session, request.user = client.session, user
    django_otp.login(request, TOTPDevice.objects.create(user=user, name="bench", confirmed=True))
    request.session.save()
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with postgres() as url:
        django_setup(url)
        print(f"migrate: {migrate():.1f} s")
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from integrations.kernel.api_keys import api_key_create

        loaded = load(args.subscriptions, args.days)
        print(
            f"loaded {args.subscriptions:,} subscriptions, {loaded['movements']:,} movements and "
            f"{loaded['snapshots']:,} snapshot rows and {loaded['campaign_rows']:,} campaign rows in "
            f"{loaded['seconds']:.0f} s (COPY, not timed below)"
        )
        raw, _ = api_key_create(name="bench", scopes=["read"])
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST="127.0.0.1")
        today = dt.date.today()
        year = {"from": loaded["first_day"].isoformat(), "to": today.isoformat()}
        calls = [
            ("summary", {"currency": "EUR"}),
            ("summary", {"currency": "EUR", "as_of": (today - dt.timedelta(days=40)).isoformat()}),
            ("mrr-movements", {"currency": "EUR", **year}),
            ("series", {"currency": "EUR", "interval": "day", **year}),
            ("series", {"currency": "EUR", "interval": "month", **year}),
            ("coupons", year),
        ]
        print(f"{'endpoint':<58} {'median ms':>9} {'p95 ms':>8} {'queries':>8}")
        for path, params in calls:
            url_ = f"/api/v1/metrics/{path}"
            response = client.get(url_, params)
            assert response.status_code == 200, response.content
            times = []
            for _ in range(args.repeat):
                begun = time.perf_counter()
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(url_, params)
                times.append((time.perf_counter() - begun) * 1000)
                assert response.status_code == 200
            shown = path + "?" + "&".join(f"{k}={v}" for k, v in params.items() if k != "to")
            print(f"{shown:<58} {percentile(times, 0.5):>9.1f} {percentile(times, 0.95):>8.1f} {len(queries):>8}")
        print(f"summary EUR: {client.get('/api/v1/metrics/summary', {'currency': 'EUR'}).json()['mrr']}")
        staff = _finance_staff_client()
        for shown, params in (
            ("dashboard (admin index, finance), last 90 days", {}),
            ("dashboard (admin index, finance), a year", {**year, "currency": "EUR"}),
        ):
            assert staff.get("/admin/", params).status_code == 200
            times = []
            for _ in range(args.repeat):
                begun = time.perf_counter()
                with CaptureQueriesContext(connection) as queries:
                    page = staff.get("/admin/", params)
                times.append((time.perf_counter() - begun) * 1000)
                assert page.status_code == 200 and b'id="figure-mrr"' in page.content
            print(f"{shown:<58} {percentile(times, 0.5):>9.1f} {percentile(times, 0.95):>8.1f} {len(queries):>8}")
        start = dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)
        print("EXPLAIN today's movements:")
        print(
            explain(
                "SELECT currency, kind, sum(amount), count(*) FROM plans_mrrmovement "
                "WHERE occurred_at >= %s AND occurred_at < %s AND currency = 'EUR' GROUP BY 1, 2",
                [start, start + dt.timedelta(days=1)],
            )
        )
        print("EXPLAIN a year of snapshot rows:")
        print(
            explain(
                "SELECT * FROM plans_metricsnapshot WHERE currency = 'EUR' AND day >= %s AND day <= %s",
                [loaded["first_day"], today],
            )
        )


if __name__ == "__main__":
    main()
