"""The operator's dashboard, the admin's first page: the headline figures with their change over a
date range, charts (MRR over time, movements, trials and conversion, revenue by currency, churn),
and coupon campaigns, in one currency (or every currency converted into it), each chart's data
downloadable as CSV. Everything is read from plans.metrics (daily snapshots and MRR movements).

What a staff member sees follows their role: money figures (MRR, ARR, ARPU, movements, revenue,
revenue churn) need FINANCE_FIGURES (finance, administrators); subscription counts, trials and
logo churn need SUBSCRIPTION_FIGURES (those and support, catalogue); campaigns (their discount given
is money) need the coupon change permission (marketing) or the money figures (finance, administrators). A panel the user may not see
is not built at all."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from integrations.kernel import clock
from integrations.kernel.errors import InvalidRequest
from payments.currency import quantize
from plans import metrics

FINANCE_FIGURES = "plans.view_finance_metrics"
SUBSCRIPTION_FIGURES = "plans.view_subscription_metrics"
CAMPAIGN_FIGURES = "coupons.change_coupon"  # marketing (support reads campaigns, not what they gave)
DEFAULT_DAYS = 90
DAILY_UP_TO_DAYS = 62  # a longer range is drawn per month

MOVEMENT_KINDS = ("new", "expansion", "reactivation", "contraction", "churn")


@dataclass(frozen=True)
class Filters:
    date_from: dt.date
    date_to: dt.date
    currency: str
    convert: bool

    @property
    def interval(self) -> str:
        return "day" if (self.date_to - self.date_from).days <= DAILY_UP_TO_DAYS else "month"

    def query(self) -> str:
        convert = "&convert=1" if self.convert else ""
        return f"from={self.date_from}&to={self.date_to}&currency={self.currency}{convert}"


def dashboard_filters(params) -> Filters:
    """The range, currency and conversion asked for (GET parameters), checked as the API checks
    them; the last 90 days in the reporting currency by default."""
    today = clock.now().date()
    raw_from, raw_to = params.get("from") or "", params.get("to") or ""
    if raw_from or raw_to:
        date_from, date_to = metrics.metrics_range(raw_from or None, raw_to or None)
    else:
        date_from, date_to = today - dt.timedelta(days=DEFAULT_DAYS), today
    currency = metrics.metrics_currency(params.get("currency") or settings.METRICS_REPORTING_CURRENCY)
    return Filters(date_from, date_to, currency, metrics.metrics_convert(params.get("convert")))


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: str  # as shown
    change: str  # over the range, as shown ("+12.00", "+3", "-1.2 pt"); "" when not comparable
    direction: str  # "up", "down" or "" (for the arrow's colour)


def _amount(money) -> Decimal:
    return money.amount if hasattr(money, "amount") else Decimal(money)


def money_text(money, currency: str) -> str:
    """An amount with its currency's digits (JPY 0, EUR 2, KWD 3) and a thin grouping."""
    amount = quantize(_amount(money), currency)
    return f"{amount:,} {currency}".replace(",", "\u202f")


def _rate_text(rate) -> str:
    return "—" if rate is None else f"{Decimal(rate) * 100:.1f} %"


def _signed(value, text) -> tuple[str, str]:
    if value is None or value == 0:
        return ("±0" if value == 0 else ""), ""
    return ("+" if value > 0 else "") + text, "up" if value > 0 else "down"


def _figures(user, filters: Filters) -> list[Figure]:
    start = metrics.metrics_summary(currency=filters.currency, as_of=filters.date_from, convert=filters.convert)
    end = metrics.metrics_summary(currency=filters.currency, as_of=filters.date_to, convert=filters.convert)
    figures = []
    if user.has_perm(FINANCE_FIGURES):
        for key, label in (("mrr", "MRR"), ("arr", "ARR"), ("arpu", "ARPU")):
            delta = _amount(end[key]) - _amount(start[key])
            change, direction = _signed(delta, money_text(delta, filters.currency))
            figures.append(Figure(key, label, money_text(end[key], filters.currency), change, direction))
    if user.has_perm(SUBSCRIPTION_FIGURES):
        for key, label in (
            ("active_subscriptions", "Active subscriptions"),
            ("trialing_subscriptions", "Trialing"),
            ("past_due_subscriptions", "Past due"),
            ("paying_customers", "Paying customers"),
        ):
            delta = end[key] - start[key]
            change, direction = _signed(delta, str(delta))
            figures.append(Figure(key, label, str(end[key]), change, direction))
        rates = [("trial_conversion_rate", "Trial conversion (30 days)"), ("logo_churn_rate", "Logo churn (30 days)")]
        if user.has_perm(FINANCE_FIGURES):
            rates.append(("revenue_churn_rate", "Revenue churn (30 days)"))
        for key, label in rates:
            before, after = start[key], end[key]
            delta = None if before is None or after is None else (Decimal(after) - Decimal(before)) * 100
            change, direction = _signed(delta, f"{delta:.1f} pt" if delta is not None else "")
            figures.append(Figure(key, label, _rate_text(after), change, direction))
    return figures


# --- Charts: each is (columns, rows) for its CSV and a Chart.js config for the page --------------


class Reading:
    """One page's reads: the range's series is read once for all its charts."""

    def __init__(self, filters: Filters):
        self.filters = filters
        self._series = None

    @property
    def series(self) -> list[dict]:
        if self._series is None:
            f = self.filters
            self._series = metrics.metrics_series(
                currency=f.currency, date_from=f.date_from, date_to=f.date_to, interval=f.interval, convert=f.convert
            )["results"]
        return self._series


def _number(value) -> float | int | None:
    """For the chart's JSON only (CSV and figures keep the Decimal's text)."""
    if value is None:
        return None
    if hasattr(value, "amount"):
        value = value.amount
    return float(value) if isinstance(value, Decimal) else value


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    permission: str
    columns: tuple[str, ...]

    def rows(self, reading: Reading) -> list[list]:
        return CHART_ROWS[self.key](reading)


# Rows hold dates, ints and Decimals (quantized to the currency), so a CSV keeps them numbers; a
# rate that cannot be computed (nothing to divide by) is an empty cell.


def _mrr_rows(reading):
    filters = reading.filters
    return [[p["date"], quantize(p["mrr"].amount, filters.currency)] for p in reading.series]


def _movement_rows(reading):
    filters = reading.filters
    return [
        [p["date"], *(quantize(p[kind].amount, filters.currency) for kind in (*MOVEMENT_KINDS, "net"))]
        for p in reading.series
    ]


def _trial_rows(reading):
    return [
        [
            p["date"],
            p["trials_started"],
            p["trials_ended"],
            p["trials_converted"],
            "" if p["trial_conversion_rate"] is None else p["trial_conversion_rate"],
        ]
        for p in reading.series
    ]


def _churn_rows(reading):
    return [
        [p["date"], p["churn_count"], "" if p["logo_churn_rate"] is None else p["logo_churn_rate"]]
        for p in reading.series
    ]


def _revenue_rows(reading):
    filters = reading.filters
    """Per currency of the price, in that currency; converted into the reporting one as well when
    the dashboard converts (else that cell is empty: no rate is needed to look at revenue)."""
    answer = metrics.revenue_by_currency(
        date_from=filters.date_from, date_to=filters.date_to, currency=filters.currency if filters.convert else None
    )
    return [
        [
            row["currency"],
            quantize(row["revenue"].amount, row["currency"]),
            quantize(row["recovered"].amount, row["currency"]),
            quantize(row["revenue_converted"].amount, filters.currency) if filters.convert else "",
        ]
        for row in answer["results"]
    ]


CHART_ROWS = {
    "mrr": _mrr_rows,
    "movements": _movement_rows,
    "trials": _trial_rows,
    "churn": _churn_rows,
    "revenue": _revenue_rows,
}

CHARTS = (
    Chart("mrr", "MRR over time", FINANCE_FIGURES, ("date", "mrr")),
    Chart("movements", "MRR movements", FINANCE_FIGURES, ("date", *MOVEMENT_KINDS, "net")),
    Chart(
        "trials",
        "Trials and conversion",
        SUBSCRIPTION_FIGURES,
        ("date", "trials_started", "trials_ended", "trials_converted", "conversion_rate"),
    ),
    Chart("churn", "Churn", SUBSCRIPTION_FIGURES, ("date", "customers_churned", "logo_churn_rate")),
    Chart("revenue", "Revenue by currency", FINANCE_FIGURES, ("currency", "revenue", "recovered", "converted")),
)
CHARTS_BY_KEY = {chart.key: chart for chart in CHARTS}


def _chart_config(chart: Chart, rows: list[list]) -> dict:
    """The Chart.js configuration drawn by mediamanager/static/mediamanager/dashboard.js."""
    labels = [row[0] for row in rows]
    column = {
        name: [_number(Decimal(row[i])) if row[i] != "" else None for row in rows]
        for i, name in enumerate(chart.columns)
        if i
    }
    if chart.key == "mrr":
        datasets = [{"type": "line", "label": "MRR", "data": column["mrr"]}]
    elif chart.key == "movements":
        datasets = [
            {
                "type": "bar",
                "label": kind,
                "data": [(-v if kind in ("contraction", "churn") else v) for v in column[kind]],
            }
            for kind in MOVEMENT_KINDS
        ] + [{"type": "line", "label": "net", "data": column["net"]}]
    elif chart.key == "trials":
        datasets = [
            {"type": "bar", "label": "started", "data": column["trials_started"]},
            {"type": "bar", "label": "converted", "data": column["trials_converted"]},
        ]
    elif chart.key == "churn":
        datasets = [{"type": "bar", "label": "customers churned", "data": column["customers_churned"]}]
    elif any(value is not None for value in column["converted"]):
        datasets = [{"type": "bar", "label": "revenue (converted)", "data": column["converted"]}]
    else:  # one bar per currency, each in its own currency (its label says which)
        labels = [f"{row[0]}" for row in rows]
        datasets = [{"type": "bar", "label": "revenue (each in its currency)", "data": column["revenue"]}]
    return {"key": chart.key, "labels": labels, "datasets": datasets, "stacked": chart.key == "movements"}


def _currencies(chosen: str) -> list[str]:
    """The currencies the snapshots know (a handful), for the currency picker."""
    from plans.models import MetricSnapshot

    known = set(MetricSnapshot.objects.values_list("currency", flat=True).distinct().order_by())
    return sorted(known | {chosen, settings.METRICS_REPORTING_CURRENCY})


def dashboard_context(user, params) -> dict:
    """Everything the index shows above the app list, for `user` (nothing for a role that sees no
    figure); a bad parameter gives its error to show, with the form as it was sent."""
    if not any(user.has_perm(p) for p in (FINANCE_FIGURES, SUBSCRIPTION_FIGURES, CAMPAIGN_FIGURES)):
        return {}
    form = {name: str(params.get(name) or "") for name in ("from", "to", "currency", "convert")}
    try:
        filters = dashboard_filters(params)
        figures = _figures(user, filters)
        reading = Reading(filters)
        charts = [
            {"chart": chart, "config": _chart_config(chart, chart.rows(reading))}
            for chart in CHARTS
            if user.has_perm(chart.permission)
        ]
        campaigns = None
        if user.has_perm(CAMPAIGN_FIGURES) or user.has_perm(FINANCE_FIGURES):
            campaigns = metrics.coupon_campaign_figures(date_from=filters.date_from, date_to=filters.date_to)["results"]
    except InvalidRequest as error:
        form["currency"] = form["currency"] or settings.METRICS_REPORTING_CURRENCY
        return {"dashboard": {"error": error.message, "form": form, "currencies": _currencies(form["currency"])}}
    form = {
        "from": str(filters.date_from),
        "to": str(filters.date_to),
        "currency": filters.currency,
        "convert": filters.convert,
    }
    return {
        "dashboard": {
            "error": "",
            "form": form,
            "filters": filters,
            "figures": figures,
            "charts": charts,
            "configs": [item["config"] for item in charts],
            "campaigns": campaigns,
            "currencies": _currencies(filters.currency),
        }
    }


def dashboard_csv_rows(user, key: str, params) -> tuple[Chart, Filters, list[list]]:
    """One chart's data for its CSV download; PermissionError when the user may not see it."""
    chart = CHARTS_BY_KEY.get(key)
    if chart is None:
        raise LookupError(key)
    if not user.has_perm(chart.permission):
        raise PermissionError(key)
    filters = dashboard_filters(params)
    return chart, filters, chart.rows(Reading(filters))
