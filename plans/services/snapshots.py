"""Metric snapshots: one row per (UTC day, currency of the prices) with the stocks at the end of the
day and the day's flows (plans.models.MetricSnapshot), written by the scheduled task for yesterday
and today, and by `manage.py rebuild_metrics`, which first rewrites the MRR movements from history.

Stocks: MRR is the sum of the movements before the day's end (the previous day's row plus the day's
movements); paying customers likewise (customer-level movements: + new + reactivation - churn).
Subscription counts are read from the subscriptions' statuses for yesterday and today; a rebuilt
older day derives them from history (subscriptions whose last movement before the day's end left
them MRR; past due from `past_due_since`, so a spell of dunning that recovered leaves no trace;
trialing from the trial's dates).
Flows: movement sums and counts, trials started (trial_start), ended (their trial's end, or an
earlier cancel) and converted (movements from a trial), revenue (net of tax of invoices paid that
day) and dunning recovered revenue (the same for renewal invoices paid after a failed charge).
Campaigns: per coupon and currency, the day's redemptions and the discounts it gave on invoices
paid that day (plans.models.CampaignSnapshot).
"""

import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, Least

from coupons.models import Redemption
from integrations.kernel import clock
from payments.models import Invoice
from plans.metrics import campaign_day_figures
from plans.models import MRR_UP, CampaignSnapshot, MetricSnapshot, MrrMovement, Subscription, SubscriptionInvoice
from plans.services.mrr import ZERO, movement_row, subscription_monthly_value

logger = logging.getLogger("plans.metrics")
Status = Subscription.Status
Kind = MrrMovement.Kind
ONE_DAY = dt.timedelta(days=1)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _by_currency(rows, key: str = "currency") -> dict:
    return {row[key]: row for row in rows}


def _day_flows(day: dt.date) -> dict[str, dict]:
    """Every flow of the day per currency, in a handful of grouped queries."""
    start, end = day_start(day), day_start(day + ONE_DAY)
    flows: dict[str, dict] = defaultdict(lambda: defaultdict(lambda: ZERO))
    movements = (
        MrrMovement.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values("currency", "kind")
        .annotate(total=Sum("amount"), n=Count("id"), trials=Count("id", filter=Q(from_trial=True)))
        .order_by()
    )
    for row in movements:
        flow = flows[row["currency"]]
        flow[row["kind"]] += row["total"]
        flow[f"{row['kind']}_count"] += row["n"]
        flow["trials_converted"] += row["trials"]
    started = Subscription.objects.filter(trial_start__gte=start, trial_start__lt=end)
    for row in started.values("currency").annotate(n=Count("id")).order_by():
        flows[row["currency"]]["trials_started"] += row["n"]
    ended = Subscription.objects.filter(trial_start__isnull=False).annotate(
        trial_over=Least(F("trial_end"), Coalesce(F("ended_at"), F("trial_end")))
    )
    ended = ended.filter(trial_over__gte=start, trial_over__lt=min(end, clock.now()))
    for row in ended.values("currency").annotate(n=Count("id")).order_by():
        flows[row["currency"]]["trials_ended"] += row["n"]
    paid = Invoice.objects.filter(status=Invoice.Status.PAID, paid_at__gte=start, paid_at__lt=end)
    net = Sum(F("total") - F("tax_total"))
    for row in paid.values("currency").annotate(net=net).order_by():
        flows[row["currency"]]["revenue"] += row["net"] or ZERO
    renewal_links = SubscriptionInvoice.objects.filter(
        invoice_id=OuterRef("pk"), purpose=SubscriptionInvoice.Purpose.RENEWAL
    )
    recovered = paid.filter(Exists(renewal_links), attempt_count__gt=1)
    for row in recovered.values("currency").annotate(net=net).order_by():
        flows[row["currency"]]["recovered"] += row["net"] or ZERO
    return flows


def _stocks_from_movements(end: dt.datetime) -> dict[str, dict]:
    """MRR and paying customers per currency at `end`, from the whole movement log (no snapshot before)."""
    stocks: dict[str, dict] = defaultdict(lambda: {"mrr": ZERO, "paying_customers": 0})
    rows = (
        MrrMovement.objects.filter(occurred_at__lt=end)
        .values("currency", "kind")
        .annotate(total=Sum("amount"), n=Count("id"))
    ).order_by()
    for row in rows:
        stock = stocks[row["currency"]]
        stock["mrr"] += row["total"] if row["kind"] in MRR_UP else -row["total"]
        if row["kind"] in (Kind.NEW, Kind.REACTIVATION):
            stock["paying_customers"] += row["n"]
        elif row["kind"] == Kind.CHURN:
            stock["paying_customers"] -= row["n"]
    return stocks


def _live_counts() -> dict[str, dict]:
    counts: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    rows = (
        Subscription.objects.filter(status__in=(Status.ACTIVE, Status.TRIALING, Status.PAST_DUE))
        .values("currency", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts[row["currency"]][f"{row['status']}_subscriptions"] = row["n"]
    return counts


def _history_counts(end: dt.datetime) -> dict[str, dict]:
    counts: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    later = MrrMovement.objects.filter(subscription_id=OuterRef("subscription_id"), occurred_at__lt=end).filter(
        Q(occurred_at__gt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), id__gt=OuterRef("id"))
    )
    valued = MrrMovement.objects.filter(occurred_at__lt=end, mrr_after__gt=0).exclude(Exists(later))
    not_over = Q(ended_at__isnull=True) | Q(ended_at__gte=end)
    past_due = Subscription.objects.filter(not_over, past_due_since__lt=end).exclude(status=Status.ACTIVE)
    past_due_counts = {
        row["currency"]: row["n"] for row in past_due.values("currency").annotate(n=Count("id")).order_by()
    }
    for row in valued.values("currency").annotate(n=Count("id")).order_by():
        behind = min(past_due_counts.get(row["currency"], 0), row["n"])
        counts[row["currency"]]["past_due_subscriptions"] = behind
        counts[row["currency"]]["active_subscriptions"] = row["n"] - behind
    trialing = Subscription.objects.filter(not_over, trial_start__lt=end, trial_end__gte=end)
    for row in trialing.values("currency").annotate(n=Count("id")).order_by():
        counts[row["currency"]]["trialing_subscriptions"] = row["n"]
    return counts


_FLOW_FIELDS = [
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "new_count",
    "expansion_count",
    "contraction_count",
    "churn_count",
    "reactivation_count",
    "trials_started",
    "trials_ended",
    "trials_converted",
    "recovered",
    "revenue",
]
_COUNT_FIELDS = ["active_subscriptions", "trialing_subscriptions", "past_due_subscriptions"]


@transaction.atomic
def metric_snapshot_write(*, day: dt.date, live_counts: bool | None = None) -> list[MetricSnapshot]:
    """(Re)write the day's rows, one per currency that has anything (upserted: twice gives the same
    rows). Stocks build on the previous day's rows when they exist. `live_counts`: read the
    subscription counts from their statuses (default: for yesterday and today)."""
    today = clock.now().date()
    if live_counts is None:
        live_counts = day >= today - ONE_DAY
    end = day_start(day + ONE_DAY)
    flows = _day_flows(day)
    previous = {row.currency: row for row in MetricSnapshot.objects.filter(day=day - ONE_DAY)}
    if previous:
        stocks = {c: {"mrr": row.mrr, "paying_customers": row.paying_customers} for c, row in previous.items()}
        for currency, flow in flows.items():
            stock = stocks.setdefault(currency, {"mrr": ZERO, "paying_customers": 0})
            stock["mrr"] += flow[Kind.NEW] + flow[Kind.EXPANSION] + flow[Kind.REACTIVATION]
            stock["mrr"] -= flow[Kind.CONTRACTION] + flow[Kind.CHURN]
            stock["paying_customers"] += flow["new_count"] + flow["reactivation_count"] - flow["churn_count"]
    else:
        stocks = dict(_stocks_from_movements(end))
    counts = _live_counts() if live_counts else _history_counts(end)
    currencies = sorted(set(stocks) | set(flows) | set(counts))
    now = clock.now()
    rows = []
    for currency in currencies:
        stock = stocks.get(currency, {"mrr": ZERO, "paying_customers": 0})
        flow = flows.get(currency, {})
        count = counts.get(currency, {})
        values = {
            "mrr": stock["mrr"],
            "paying_customers": max(0, stock["paying_customers"]),
            **{name: count.get(name, 0) for name in _COUNT_FIELDS},
            **{name: flow.get(name, 0) for name in _FLOW_FIELDS},
            "computed_at": now,
        }
        row, _ = MetricSnapshot.objects.update_or_create(day=day, currency=currency, defaults=values)
        rows.append(row)
    MetricSnapshot.objects.filter(day=day).exclude(currency__in=currencies).delete()
    _campaign_snapshots_write(day)
    return rows


def _campaign_snapshots_write(day: dt.date) -> None:
    """The day's rows per (coupon, currency) of `campaign_day_figures` (upserted; a row with nothing
    left is removed)."""
    figures = campaign_day_figures(day)
    kept = []
    for (coupon_id, currency), values in figures.items():
        row, _ = CampaignSnapshot.objects.update_or_create(
            day=day, coupon_id=coupon_id, currency=currency, defaults=values
        )
        kept.append(row.pk)
    CampaignSnapshot.objects.filter(day=day).exclude(pk__in=kept).delete()


def metric_snapshots_write(*, first: dt.date, last: dt.date) -> int:
    """Every day from `first` to `last`, in order (each builds on the one before). Returns the rows."""
    written, day = 0, first
    while day <= last:
        written += len(metric_snapshot_write(day=day))
        day += ONE_DAY
    return written


def metric_snapshots_refresh() -> int:
    """The scheduled task's work: yesterday's rows (final, with movements recorded late for it, such
    as a churn at a period end that the billing run saw after midnight) and today's so far."""
    today = clock.now().date()
    return metric_snapshots_write(first=today - ONE_DAY, last=today)


# --- The movement log from history ----------------------------------------------------------------


def _history_points(sub: Subscription, links: list[SubscriptionInvoice]) -> list[tuple]:
    """When the subscription's value changed, from what its rows say: (at, value, from_trial) —
    imported (valued from its creation), each paid invoice's period (the price it paid), and its end
    (canceled, ended, paused). A pause that was resumed leaves no trace and is not replayed."""
    points = []
    if sub.source == "import":
        price = links[0].price if links else sub.price
        points.append(
            (sub.created_at, subscription_monthly_value(subscription=sub, status=Status.ACTIVE, price=price), False)
        )
    for index, link in enumerate(links):
        value = subscription_monthly_value(
            subscription=sub, status=Status.ACTIVE, price=link.price, at=link.invoice.created_at, link=link
        )
        from_trial = index == 0 and sub.trial_start is not None and link.purpose == SubscriptionInvoice.Purpose.RENEWAL
        points.append((link.period_start, value, from_trial))
    if sub.status in (Status.CANCELED, Status.ENDED, Status.INCOMPLETE_EXPIRED) and sub.ended_at:
        points.append((sub.ended_at, ZERO, False))
    elif sub.status == Status.PAUSED and sub.paused_at:
        points.append((sub.paused_at, ZERO, False))
    return points


def _customer_replay(subs: list[Subscription], since: dt.datetime | None) -> tuple[list[MrrMovement], dict]:
    links_of = defaultdict(list)
    paid = (
        SubscriptionInvoice.objects.filter(subscription__in=subs, invoice__status=Invoice.Status.PAID)
        .select_related("price__plan", "invoice")
        .order_by("period_start", "pk")
    )
    for link in paid:
        links_of[link.subscription_id].append(link)
    events = []
    for sub in subs:
        for at, value, from_trial in _history_points(sub, links_of[sub.id]):
            events.append((at, sub.id, value, from_trial))
    events.sort(key=lambda e: (e[0], e[1]))
    by_id = {sub.id: sub for sub in subs}
    state = {sub.id: ZERO for sub in subs}
    had: set[str] = set()  # currencies the customer had MRR in
    movements = []
    for at, sub_id, value, from_trial in events:
        sub, before = by_id[sub_id], state[sub_id]
        if value == before:
            continue
        others = sum((v for s, v in state.items() if s != sub_id and by_id[s].currency == sub.currency), ZERO)
        if since is None or at >= since:
            movements.append(
                movement_row(
                    sub,
                    before=before,
                    after=value,
                    others=others,
                    had_mrr_before=sub.currency in had,
                    from_trial=from_trial,
                    at=at,
                    service_period_start=at,
                )
            )
        state[sub_id] = value
        if value > ZERO:
            had.add(sub.currency)
    return movements, state


def mrr_movements_rebuild(*, since: dt.datetime | None = None, batch: int = 500) -> int:
    """Rewrite the movement log from history (invoices paid, subscriptions' dates), from `since` on
    (all of it by default), one customer at a time in their own transaction, and set each
    subscription's MRR to its replayed value. Twice gives the same rows. Returns the movements written."""
    customer_ids = (
        Subscription.objects.order_by("customer_id").values_list("customer_id", flat=True).distinct().iterator()
    )
    written, chunk = 0, []

    def flush():
        nonlocal written
        with transaction.atomic():
            subs_of = defaultdict(list)
            for sub in (
                Subscription.objects.select_for_update(of=("self",))
                .filter(customer_id__in=chunk)
                .select_related("price__plan", "customer")
                .order_by("pk")
            ):
                subs_of[sub.customer_id].append(sub)
            old = MrrMovement.objects.filter(customer_id__in=chunk)
            (old.filter(occurred_at__gte=since) if since else old).delete()
            for subs in subs_of.values():
                movements, state = _customer_replay(subs, since)
                MrrMovement.objects.bulk_create(movements)
                written += len(movements)
                for sub in subs:
                    if Decimal(sub.mrr) != state[sub.id]:
                        Subscription.objects.filter(pk=sub.pk).update(mrr=state[sub.id])

    for customer_id in customer_ids:
        chunk.append(customer_id)
        if len(chunk) >= batch:
            flush()
            chunk = []
    if chunk:
        flush()
    return written


def metrics_rebuild(*, since: dt.date | None = None) -> dict:
    """`manage.py rebuild_metrics`: the movement log from history, then the snapshots of every day
    from `since` (default: the first day with a movement, a trial or a paid invoice) to today."""
    today = clock.now().date()
    written = mrr_movements_rebuild(since=day_start(since) if since else None)
    first = since or _first_day() or today
    if since is None:
        MetricSnapshot.objects.all().delete()
        CampaignSnapshot.objects.all().delete()
    else:
        MetricSnapshot.objects.filter(day__gte=since).delete()
        CampaignSnapshot.objects.filter(day__gte=since).delete()
    rows = metric_snapshots_write(first=first, last=today)
    return {"movements": written, "snapshots": rows, "from": first, "to": today}


def _first_day() -> dt.date | None:
    candidates = [
        MrrMovement.objects.order_by("occurred_at").values_list("occurred_at", flat=True).first(),
        Subscription.objects.filter(trial_start__isnull=False)
        .order_by("trial_start")
        .values_list("trial_start", flat=True)
        .first(),
        Invoice.objects.filter(paid_at__isnull=False).order_by("paid_at").values_list("paid_at", flat=True).first(),
        Redemption.objects.order_by("created_at").values_list("created_at", flat=True).first(),
    ]
    found = [when for when in candidates if when is not None]
    return min(found).date() if found else None
