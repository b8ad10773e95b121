"""Metric selectors (reads) for the API and the dashboard: every figure comes from the daily
snapshots (plans.models.MetricSnapshot) plus today's MRR movements, so an answer reads a few rows
at any scale. Definitions are ChartMogul's (API.md "Metrics", plans.services.mrr).

Every selector takes a reporting `currency` and `convert`:
- `convert=False` (default): only subscriptions and invoices priced in `currency` count.
- `convert=True`: every currency counts, converted into `currency` with the dated exchange rates
  (payments.fx): a day's stocks (MRR, ARR, ARPU) at that day's rate, a day's flows (movements,
  revenue) at the rate of that day, which is the start of the service period a movement begins
  (the latest rate on or before the day). A missing rate raises ExchangeRateMissing (400 in the API).
Counts (subscriptions, customers, trials) are never converted: with `convert`, they add up.

Days are UTC. A day's stocks are those at its end; today's are those of now (yesterday's end plus
today's movements), its counts and other flows those of the last snapshot task run (hourly).

For the dashboard:
- `metrics_series(currency, date_from, date_to, interval="day"|"month", convert)`: one point per
  day or month (stocks at the end of it, flows summed over it): MRR over time, movements as bars,
  trials and conversion, revenue, churn.
- `metrics_summary(currency, as_of, convert)`: the headline figures, with the 30 days' rates.
- `mrr_movements_totals(currency, date_from, date_to, convert)`: the movements of a range.
- `revenue_by_currency(date_from, date_to, currency=None)`: revenue and recovered revenue per currency
  of the price, and converted into `currency` when it is given.
- `coupon_campaign_figures(date_from, date_to)`: redemptions and discount given per campaign (its
  daily rows, plans.models.CampaignSnapshot, and today's live).
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Max, Q, Sum
from moneyed import Money

from coupons.models import Coupon, DiscountGiven, Redemption
from integrations.kernel import clock
from integrations.kernel.errors import InvalidRequest
from payments.currency import CurrencyError, normalize_currency, quantize
from payments.fx.services import RateTable
from payments.models import Invoice
from plans.models import CampaignSnapshot, MetricSnapshot, MrrMovement

ONE_DAY = dt.timedelta(days=1)
ZERO = Decimal(0)
WINDOW_DAYS = 30  # the summary's churn and conversion rates: the last 30 days
MAX_RANGE_DAYS = 3700  # about ten years: a range is bounded, so an answer is
KINDS = ("new", "expansion", "contraction", "churn", "reactivation")
MONEY_STOCKS = ("mrr",)
COUNT_STOCKS = ("active_subscriptions", "trialing_subscriptions", "past_due_subscriptions", "paying_customers")
MONEY_FLOWS = (*KINDS, "recovered", "revenue")
COUNT_FLOWS = (*(f"{k}_count" for k in KINDS), "trials_started", "trials_ended", "trials_converted")
INTERVALS = ("day", "month")


# --- Parameters -----------------------------------------------------------------------------------


def metrics_currency(raw: object) -> str:
    """The reporting currency: an ISO 4217 code (upper-cased), or 400 naming `currency`."""
    if raw in (None, ""):
        raise InvalidRequest("currency is required (an ISO 4217 code).", code="parameter_missing", param="currency")
    try:
        return normalize_currency(raw, require_enabled=False)
    except CurrencyError:
        raise InvalidRequest(
            f"'{raw}' is not an ISO 4217 currency code.", code="currency_invalid", param="currency"
        ) from None


def metrics_day(raw: object, *, param: str, default: dt.date | None = None, future: bool = False) -> dt.date:
    """A day as YYYY-MM-DD, not after today (unless `future`); or 400 naming `param`."""
    if raw in (None, ""):
        if default is not None:
            return default
        raise InvalidRequest(f"{param} is required (YYYY-MM-DD).", code="parameter_missing", param=param)
    try:
        day = dt.date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidRequest(f"{param} must be a day as YYYY-MM-DD.", code="parameter_invalid", param=param)
    if day > clock.now().date() and not future:
        raise InvalidRequest(f"{param} is after today.", code="parameter_invalid", param=param)
    return day


def metrics_range(raw_from: object, raw_to: object) -> tuple[dt.date, dt.date]:
    """`from` and `to` (both included; `to` defaults to today, and a later one means today: the days
    after it have nothing yet), `from` no later than `to`, at most about ten years apart; or 400
    naming the parameter."""
    today = clock.now().date()
    first = metrics_day(raw_from, param="from")
    last = metrics_day(raw_to, param="to", default=today, future=True)
    if first > last:
        raise InvalidRequest("from must be on or before to.", code="parameter_invalid", param="from")
    last = min(last, today)
    if (last - first).days > MAX_RANGE_DAYS:
        raise InvalidRequest(f"A range is at most {MAX_RANGE_DAYS} days.", code="parameter_invalid", param="from")
    return first, last


def metrics_convert(raw: object) -> bool:
    if raw in (None, "", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise InvalidRequest("convert is true or false.", code="parameter_invalid", param="convert")


def metrics_interval(raw: object) -> str:
    if raw in (None, ""):
        return "day"
    if raw not in INTERVALS:
        raise InvalidRequest("interval is day or month.", code="parameter_invalid", param="interval")
    return raw


# --- Days -----------------------------------------------------------------------------------------


@dataclass
class Day:
    """One day's figures in the reporting currency (money as Decimal, not yet quantized)."""

    day: dt.date
    values: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.values.get(name, ZERO if name in MONEY_STOCKS + MONEY_FLOWS else 0)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


_FIGURES = (*MONEY_STOCKS, *COUNT_STOCKS, *MONEY_FLOWS, *COUNT_FLOWS)


def _snapshot_rows(rows) -> list[dict]:
    """The rows' figures as dicts (with their currency and day), not model instances: a year of
    them is read several times per dashboard page."""
    return list(rows.values("currency", "day", *_FIGURES))


def _snapshot_values(row: dict) -> dict:
    return {name: row[name] for name in _FIGURES}


def _today_movements(today: dt.date, currencies: list[str] | None) -> dict[str, dict]:
    """Today's movement sums per currency, from the log itself (a few rows: its index on occurred_at)."""
    found = MrrMovement.objects.filter(occurred_at__gte=_day_start(today), occurred_at__lt=_day_start(today + ONE_DAY))
    if currencies is not None:
        found = found.filter(currency__in=currencies)
    flows: dict[str, dict] = {}
    rows = (
        found.values("currency", "kind")
        .annotate(total=Sum("amount"), n=Count("id"), trials=Count("id", filter=Q(from_trial=True)))
        .order_by()
    )
    for row in rows:
        flow = flows.setdefault(row["currency"], {"trials_converted": 0})
        flow[row["kind"]] = row["total"]
        flow[f"{row['kind']}_count"] = row["n"]
        flow["trials_converted"] += row["trials"]
    return flows


def _per_currency_days(first: dt.date, last: dt.date, currencies: list[str] | None) -> dict[str, list[dict]]:
    """Per currency, the figures of each day from `first` to `last`: snapshot rows, the stocks of a
    day without a row carried from the day before (a row exists for a day that moved anything), and
    today's stocks and movements live."""
    today = clock.now().date()
    rows = MetricSnapshot.objects.filter(day__gte=first, day__lte=last)
    earlier = MetricSnapshot.objects.filter(day__lt=first)
    if currencies is not None:
        rows, earlier = rows.filter(currency__in=currencies), earlier.filter(currency__in=currencies)
    latest = list(earlier.values("currency").annotate(day=Max("day")).order_by())
    start_rows = (
        _snapshot_rows(
            MetricSnapshot.objects.filter(
                Q(*[Q(currency=r["currency"], day=r["day"]) for r in latest], _connector=Q.OR)
            )
        )
        if latest
        else []
    )
    by_day: dict[str, dict] = {}
    for row in _snapshot_rows(rows):
        by_day.setdefault(row["currency"], {})[row["day"]] = _snapshot_values(row)
    carried = {row["currency"]: _snapshot_values(row) for row in start_rows}
    live = _today_movements(today, currencies) if first <= today <= last else {}
    result: dict[str, list[dict]] = {}
    for currency in sorted(set(by_day) | set(carried) | set(live)):
        stocks = {
            name: carried.get(currency, {}).get(name, ZERO if name in MONEY_STOCKS else 0)
            for name in MONEY_STOCKS + COUNT_STOCKS
        }
        days, day = [], first
        mine = by_day.get(currency, {})
        while day <= last:
            values = dict(mine.get(day) or {})
            if day == today:
                values = _today_live(values, stocks, live.get(currency, {}))
            elif not values:
                values = {**dict.fromkeys(MONEY_FLOWS, ZERO), **dict.fromkeys(COUNT_FLOWS, 0), **stocks}
            stocks = {name: values.get(name, stocks[name]) for name in stocks}
            days.append(values)
            day += ONE_DAY
        result[currency] = days
    return result


def _today_live(row: dict, yesterday: dict, moved: dict) -> dict:
    """Today: the task's row for its counts and other flows (if it ran today), the live movements
    for the movements, and the stocks of yesterday's end moved by them."""
    values = {**dict.fromkeys(MONEY_FLOWS, ZERO), **dict.fromkeys(COUNT_FLOWS, 0)}
    values.update(
        {name: row[name] for name in ("recovered", "revenue", "trials_started", "trials_ended") if name in row}
    )
    for name in ("active_subscriptions", "trialing_subscriptions", "past_due_subscriptions"):
        values[name] = row.get(name, yesterday[name])
    for kind in KINDS:
        values[kind] = moved.get(kind, ZERO)
        values[f"{kind}_count"] = moved.get(f"{kind}_count", 0)
    values["trials_converted"] = moved.get("trials_converted", 0)
    values["mrr"] = (
        yesterday["mrr"]
        + sum(values[k] for k in ("new", "expansion", "reactivation"))
        - values["contraction"]
        - values["churn"]
    )
    values["paying_customers"] = max(
        0, yesterday["paying_customers"] + values["new_count"] + values["reactivation_count"] - values["churn_count"]
    )
    return values


def metrics_days(*, currency: str, first: dt.date, last: dt.date, convert: bool = False) -> list[Day]:
    """The figures of each day from `first` to `last` in `currency` (see the module's docstring)."""
    per_currency = _per_currency_days(first, last, None if convert else [currency])
    rates = RateTable(quote=currency, bases=per_currency, until=last) if convert else None
    days = []
    for index in range(((last - first).days) + 1):
        day = first + dt.timedelta(days=index)
        total: dict = {}
        for code, values_of in per_currency.items():
            values = values_of[index]
            rate = rates.rate(code, day) if rates is not None and code != currency and _moves(values) else None
            for name in MONEY_STOCKS + MONEY_FLOWS:
                amount = Decimal(values.get(name, ZERO))
                total[name] = total.get(name, ZERO) + (amount * rate if rate is not None else amount)
            for name in COUNT_STOCKS + COUNT_FLOWS:
                total[name] = total.get(name, 0) + values.get(name, 0)
        days.append(Day(day=day, values=total))
    return days


def _moves(values: dict) -> bool:
    """Whether a day has any money to convert (a currency with nothing needs no rate)."""
    return any(values.get(name) for name in MONEY_STOCKS + MONEY_FLOWS)


# --- Answers --------------------------------------------------------------------------------------


def _money(amount: Decimal, currency: str) -> Money:
    return Money(quantize(amount, currency), currency)


def _rate(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def metrics_summary(*, currency: str, as_of: dt.date | None = None, convert: bool = False) -> dict:
    """The headline figures at the end of `as_of` (default: now): MRR, ARR (12 x MRR), ARPU (MRR /
    paying customers), subscription and paying-customer counts, and over the 30 days ending on it:
    trial conversion (trials converted / trials that ended), logo churn (customers churned / paying
    customers 30 days before) and revenue churn ((churn + contraction) / MRR 30 days before). A rate
    whose denominator is 0 is None."""
    as_of = as_of or clock.now().date()
    first = as_of - dt.timedelta(days=WINDOW_DAYS)
    days = metrics_days(currency=currency, first=first, last=as_of, convert=convert)
    start, end, window = days[0], days[-1], days[1:]
    mrr = end["mrr"]
    paying = end["paying_customers"]
    churned = sum(d["churn_count"] for d in window)
    lost = sum((d["churn"] + d["contraction"] for d in window), ZERO)
    return {
        "as_of": as_of,
        "currency": currency,
        "converted": convert,
        "mrr": _money(mrr, currency),
        "arr": _money(mrr * 12, currency),
        "arpu": _money(mrr / paying if paying else ZERO, currency),
        "active_subscriptions": end["active_subscriptions"],
        "trialing_subscriptions": end["trialing_subscriptions"],
        "past_due_subscriptions": end["past_due_subscriptions"],
        "paying_customers": paying,
        "trial_conversion_rate": _rate(
            sum(d["trials_converted"] for d in window), sum(d["trials_ended"] for d in window)
        ),
        "logo_churn_rate": _rate(churned, start["paying_customers"]),
        "revenue_churn_rate": _rate(lost, start["mrr"]),
        "window_days": WINDOW_DAYS,
    }


def mrr_movements_totals(*, currency: str, date_from: dt.date, date_to: dt.date, convert: bool = False) -> dict:
    """The movements from `date_from` to `date_to` (both included): each kind's amount (positive) and
    count, and net = new + expansion + reactivation - contraction - churn."""
    days = metrics_days(currency=currency, first=date_from, last=date_to, convert=convert)
    sums = {kind: sum((d[kind] for d in days), ZERO) for kind in KINDS}
    net = sums["new"] + sums["expansion"] + sums["reactivation"] - sums["contraction"] - sums["churn"]
    return {
        "from": date_from,
        "to": date_to,
        "currency": currency,
        "converted": convert,
        **{kind: _money(amount, currency) for kind, amount in sums.items()},
        "net": _money(net, currency),
        "counts": {kind: sum(d[f"{kind}_count"] for d in days) for kind in KINDS},
    }


def _buckets(days: list[Day], interval: str) -> list[list[Day]]:
    if interval == "day":
        return [[d] for d in days]
    groups: dict[tuple, list[Day]] = {}
    for d in days:
        groups.setdefault((d.day.year, d.day.month), []).append(d)
    return list(groups.values())


def metrics_series(
    *, currency: str, date_from: dt.date, date_to: dt.date, interval: str = "day", convert: bool = False
) -> dict:
    """One point per day or calendar month (clipped to the range): `date` (its first day), stocks at
    its end (mrr, arr, subscription and customer counts), flows over it (movements and net,
    trials, revenue, recovered), and its logo churn (customers churned / paying customers at its
    start) and trial conversion."""
    before = date_from - ONE_DAY
    days = metrics_days(currency=currency, first=before, last=date_to, convert=convert)
    opening, days = days[0], days[1:]
    points = []
    for bucket in _buckets(days, interval):
        last = bucket[-1]
        flows = {name: sum((d[name] for d in bucket), ZERO) for name in MONEY_FLOWS}
        counts = {name: sum(d[name] for d in bucket) for name in COUNT_FLOWS}
        net = flows["new"] + flows["expansion"] + flows["reactivation"] - flows["contraction"] - flows["churn"]
        points.append(
            {
                "date": bucket[0].day,
                "mrr": _money(last["mrr"], currency),
                "arr": _money(last["mrr"] * 12, currency),
                **{name: last[name] for name in COUNT_STOCKS},
                **{name: _money(flows[name], currency) for name in MONEY_FLOWS},
                "net": _money(net, currency),
                **counts,
                "logo_churn_rate": _rate(counts["churn_count"], opening["paying_customers"]),
                "trial_conversion_rate": _rate(counts["trials_converted"], counts["trials_ended"]),
            }
        )
        opening = last
    return {
        "currency": currency,
        "converted": convert,
        "interval": interval,
        "from": date_from,
        "to": date_to,
        "results": points,
    }


def revenue_by_currency(*, date_from: dt.date, date_to: dt.date, currency: str | None = None) -> dict:
    """Revenue (net of tax of invoices paid) and dunning recovered revenue per currency of the price
    over the range, from the snapshots; with `currency`, each also converted into it (day by day)."""
    per_currency = _per_currency_days(date_from, date_to, None)
    rates = RateTable(quote=currency, bases=per_currency, until=date_to) if currency else None
    rows, totals = [], {"revenue": ZERO, "recovered": ZERO}
    for code, days in per_currency.items():
        row = {"currency": code}
        for name in ("revenue", "recovered"):
            row[name] = _money(sum((Decimal(d.get(name, ZERO)) for d in days), ZERO), code)
            if rates is not None:
                converted = sum(
                    (
                        Decimal(d.get(name, ZERO)) * rates.rate(code, date_from + dt.timedelta(days=i))
                        for i, d in enumerate(days)
                        if d.get(name)
                    ),
                    ZERO,
                )
                row[f"{name}_converted"] = _money(converted, currency)
                totals[name] += converted
        if row["revenue"].amount or row["recovered"].amount:
            rows.append(row)
    answer = {"from": date_from, "to": date_to, "currency": currency, "results": rows}
    if currency:
        answer["total"] = {name: _money(amount, currency) for name, amount in totals.items()}
    return answer


def campaign_day_figures(day: dt.date) -> dict[tuple[str, str], dict]:
    """One day's figures per (coupon, currency): redemptions made that day, counted in their
    customer's currency, and the discounts given on invoices paid that day (coupons.DiscountGiven).
    What the snapshot task writes for a day, and today's part of an answer."""
    start, end = _day_start(day), _day_start(day + ONE_DAY)
    figures: dict[tuple[str, str], dict] = {}

    def of(coupon_id, currency):
        return figures.setdefault((coupon_id, currency), {"redemptions": 0, "discount_given": ZERO})

    redeemed = (
        Redemption.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("coupon_id", currency=F("customer__currency"))
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in redeemed:
        of(row["coupon_id"], row["currency"])["redemptions"] = row["n"]
    given = (
        DiscountGiven.objects.filter(
            invoice__status=Invoice.Status.PAID, invoice__paid_at__gte=start, invoice__paid_at__lt=end
        )
        .values("coupon_id", currency=F("amount_currency"))
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in given:
        of(row["coupon_id"], row["currency"])["discount_given"] = row["total"]
    return figures


def coupon_campaign_figures(*, date_from: dt.date, date_to: dt.date) -> dict:
    """Per campaign: redemptions made in the range, and the discount it gave on invoices paid in the
    range (per currency): the campaign snapshots' rows, and today's figures live."""
    today = clock.now().date()
    rows = (
        CampaignSnapshot.objects.filter(day__gte=date_from, day__lte=date_to)
        .exclude(day=today)
        .values("coupon_id", "currency")
        .annotate(redemptions=Sum("redemptions"), discount_given=Sum("discount_given"))
        .order_by()
    )
    rows = list(rows)
    if date_from <= today <= date_to:
        rows += [{"coupon_id": c, "currency": cur, **v} for (c, cur), v in campaign_day_figures(today).items()]
    redemptions: dict[str, int] = {}
    given: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        redemptions[row["coupon_id"]] = redemptions.get(row["coupon_id"], 0) + row["redemptions"]
        if row["discount_given"]:
            per = given.setdefault(row["coupon_id"], {})
            per[row["currency"]] = per.get(row["currency"], ZERO) + row["discount_given"]
    names = dict(Coupon.objects.filter(pk__in=list(redemptions)).values_list("id", "name"))
    results = [
        {
            "coupon": coupon_id,
            "name": names.get(coupon_id, ""),
            "redemptions": redemptions[coupon_id],
            "discount_given": [_money(amount, code) for code, amount in sorted(given.get(coupon_id, {}).items())],
        }
        for coupon_id in sorted(redemptions)
    ]
    return {"from": date_from, "to": date_to, "results": results}
