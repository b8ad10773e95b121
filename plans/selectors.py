"""Reads: the catalogue, subscriptions and what they entitle to."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from coupons.models import Discount
from integrations.kernel import clock
from integrations.kernel.db import fetch_prepared
from integrations.kernel.errors import NotFound
from integrations.models import Event
from payments.models import Customer, Invoice, Payment, PaymentMethod, Refund
from payments.selectors import live_customer_token_sql
from payments.services import Buyer, PriceAsked, price_quotes
from plans.models import ENTITLED_STATUSES, Access, Plan, PlanPrice, Subscription, SubscriptionInvoice


def plan_current_prices(*, plan: Plan) -> list[PlanPrice]:
    # Uses the prefetch of plan_list() when there is one.
    cache = getattr(plan, "_prefetched_objects_cache", {})
    if "prices" in cache:
        return sorted((p for p in plan.prices.all() if p.is_current), key=lambda p: p.currency)
    return list(plan.prices.filter(is_current=True).order_by("amount_currency"))


def plan_current_price(*, plan: Plan | str, currency: str) -> PlanPrice | None:
    """The price a new subscriber (or a renewal moving to the current price) pays in `currency`."""
    plan_id = plan if isinstance(plan, str) else plan.pk
    return PlanPrice.objects.filter(plan_id=plan_id, is_current=True, amount_currency=currency).first()


def plan_list(*, status: str | None = None, kind: str | None = None, code: str | None = None) -> QuerySet[Plan]:
    plans = Plan.objects.prefetch_related(
        Prefetch("prices", queryset=PlanPrice.objects.filter(is_current=True).order_by("amount_currency"))
    )
    if status:
        plans = plans.filter(status=status)
    if kind:
        plans = plans.filter(kind=kind)
    if code:
        plans = plans.filter(code=code)
    return plans


def plan_get(*, plan_id: str) -> Plan:
    plan = plan_list().filter(pk=plan_id).first()
    if plan is None:
        raise NotFound(f"No plan '{plan_id}'.")
    return plan


def plan_list_for_sale(*, currency: str) -> QuerySet[Plan]:
    """Active plans with a current price in `currency`, each annotated with `price` (that row)."""
    return (
        Plan.objects.filter(status=Plan.Status.ACTIVE, prices__is_current=True, prices__amount_currency=currency)
        .prefetch_related(
            Prefetch(
                "prices",
                queryset=PlanPrice.objects.filter(is_current=True, amount_currency=currency),
                to_attr="prices_in_currency",
            )
        )
        .distinct()
    )


def plans_priced_for(*, customer: Customer, plans, country: str | None = None) -> list[Plan]:
    """The plans of `plan_list_for_sale` (a page of them), each with `price_quote`: its price as
    charged to the customer (payments' quote, what the first invoice would be: tax per the plan's
    behaviour; in `country` if given, else the customer's). One read of the tax table for all."""
    plans = list(plans)
    quotes = price_quotes(
        buyer=Buyer.of(customer),
        prices=[
            PriceAsked(plan.prices_in_currency[0].amount, plan.tax_behavior, category=plan.tax_category)
            for plan in plans
        ],
        country=country,
    )
    for plan, quote in zip(plans, quotes, strict=True):
        plan.price_quote = quote
    return plans


def plan_is_referenced(*, plan: Plan) -> bool:
    """Whether anything outside the catalogue (a subscription, a coupon, ...) points at the plan or
    one of its prices: such a plan can be archived but not deleted or restructured."""
    for model, lookup_prefix in ((Plan, ""), (PlanPrice, "plan__")):
        for relation in model._meta.related_objects:
            if relation.related_model in (Plan, PlanPrice):
                continue
            lookup = f"{relation.field.name}__{lookup_prefix}pk" if lookup_prefix else relation.field.name
            target = plan.pk if lookup_prefix else plan
            if relation.related_model._base_manager.filter(**{lookup: target}).exists():
                return True
    return False


def _entitlements_sql(customer: str) -> str:
    """`customer`: SQL for the customer's id, used twice. Then the parameters: the entitled
    statuses, the pass status, now."""
    sub, access, plan = Subscription._meta.db_table, Access._meta.db_table, Plan._meta.db_table
    statuses = ", ".join(["%s"] * len(ENTITLED_STATUSES))
    return f"""SELECT 0 AS part, s.plan_id, p.code, s.id AS sub_id, s.status, s.current_period_end AS until,
            s.past_due_since, s.created_at
        FROM {sub} s JOIN {plan} p ON p.id = s.plan_id WHERE s.customer_id = {customer} AND s.status IN ({statuses})
        UNION ALL
        SELECT 1, a.plan_id, p.code, NULL, NULL, a.access_until, NULL, a.access_until
        FROM {access} a JOIN {plan} p ON p.id = a.plan_id
        WHERE a.customer_id = {customer} AND a.status = %s AND a.access_until > %s"""  # noqa: S608 - identifiers from our models


def _entitlements_params(now) -> tuple:
    return ENTITLED_STATUSES, Access.Status.ACTIVE, connection.ops.adapt_datetimefield_value(now)


def _aware(value):
    """A datetime read by a raw cursor: PostgreSQL's are aware; SQLite's are naive UTC (or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def entitlement_list(*, customer, as_of=None) -> list[dict]:
    """What the customer may watch now: the call every player makes at start-up (and many every few
    minutes), so one indexed query written out, not compiled by the ORM."""
    now = as_of or clock.now()
    customer_id = getattr(customer, "pk", customer)
    statuses, pass_status, at = _entitlements_params(now)
    with connection.cursor() as cursor:
        cursor.execute(_entitlements_sql(customer="%s"), [customer_id, *statuses, customer_id, pass_status, at])
        return _entitlements_from_rows(cursor.fetchall(), now)


def entitlements_by_customer_token(*, token_hash: str, as_of=None) -> tuple[str, list[dict]] | None:
    """A live customer token's customer and what they may watch now (`entitlement_list`), in one
    prepared statement: the check every player makes. None if the token is unknown or expired."""
    now = as_of or clock.now()
    sql = f"""WITH t AS ({live_customer_token_sql()})
        SELECT t.customer_id, e.* FROM t
        LEFT JOIN ({_entitlements_sql(customer="(SELECT customer_id FROM t)")}) e ON TRUE"""  # noqa: S608
    token_params = [token_hash, connection.ops.adapt_datetimefield_value(timezone.now())]
    statuses, pass_status, at = _entitlements_params(now)
    rows = fetch_prepared(sql, [*token_params, *statuses, pass_status, at])
    if not rows:
        return None
    return rows[0][0], _entitlements_from_rows([row[1:] for row in rows if row[1] is not None], now)


def _entitlements_from_rows(rows, now) -> list[dict]:
    """Subscriptions that entitle (`entitled_until`, newest first), then live passes (longest first)."""
    subscriptions, passes = [], []
    for part, plan_id, code, sub_id, status, period_end, past_due_since, created_at in rows:
        if part == 0:
            until = entitled_until(
                status=status, current_period_end=_aware(period_end), past_due_since=_aware(past_due_since), at=now
            )
            if until is None:
                continue
            entry = {"plan": plan_id, "plan_code": code, "source": "subscription", "subscription": sub_id,
                     "status": status, "access_until": until}  # fmt: skip
            subscriptions.append((_aware(created_at), sub_id, entry))
        else:
            until = _aware(period_end)
            passes.append((until, {"plan": plan_id, "plan_code": code, "source": "one_off", "subscription": None,
                                   "status": "active", "access_until": until}))  # fmt: skip
    subscriptions.sort(key=lambda row: (row[0], row[1]), reverse=True)
    passes.sort(key=lambda row: row[0], reverse=True)
    return [entry for *_, entry in subscriptions] + [entry for _, entry in passes]


def subscription_list(
    *, customer_id: str | None = None, status: str | None = None, plan_id: str | None = None
) -> QuerySet[Subscription]:
    subscriptions = Subscription.objects.select_related("plan", "price")
    if customer_id:
        subscriptions = subscriptions.filter(customer_id=customer_id)
    if status:
        subscriptions = subscriptions.filter(status=status)
    if plan_id:
        subscriptions = subscriptions.filter(plan_id=plan_id)
    return subscriptions


def subscription_get(*, subscription_id: str, customer_id: str | None = None) -> Subscription:
    subscription = subscription_list(customer_id=customer_id).filter(pk=subscription_id).first()
    if subscription is None:
        raise NotFound(f"No subscription '{subscription_id}'.")
    return subscription


def subscription_card(sub: Subscription) -> PaymentMethod | None:
    """The card a renewal is charged to: the customer's default card (API.md: the default card is
    "the card that the customer's subscriptions are charged to"), else the card used at signup."""
    default = PaymentMethod.objects.filter(
        customer_id=sub.customer_id, is_default=True, detached_at__isnull=True
    ).first()
    if default is not None:
        return default
    if sub.payment_method_id:
        return PaymentMethod.objects.filter(pk=sub.payment_method_id, detached_at__isnull=True).first()
    return None


def grace_ends(sub: Subscription) -> datetime | None:
    """When a past-due subscription stops giving access (None unless past due)."""
    return _grace_ends(status=sub.status, past_due_since=sub.past_due_since)


def _grace_ends(*, status: str, past_due_since: datetime | None) -> datetime | None:
    if status != Subscription.Status.PAST_DUE or past_due_since is None:
        return None
    return past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)


def entitled_until(
    *, status: str, current_period_end: datetime | None, past_due_since: datetime | None, at: datetime
) -> datetime | None:
    """The one rule of watching on a subscription: trialing and active entitle until the period's
    end, past due until the grace period's end (while it lasts); None: no access at `at`."""
    if status == Subscription.Status.PAST_DUE:
        grace = _grace_ends(status=status, past_due_since=past_due_since)
        return grace if grace is not None and grace > at else None
    if status in (Subscription.Status.TRIALING, Subscription.Status.ACTIVE):
        return current_period_end
    return None


def is_entitled(sub: Subscription, at: datetime | None = None) -> bool:
    return (
        entitled_until(
            status=sub.status,
            current_period_end=sub.current_period_end,
            past_due_since=sub.past_due_since,
            at=at or clock.now(),
        )
        is not None
    )


def subscription_open_invoice(sub: Subscription) -> Invoice | None:
    """The renewal invoice still waiting to be paid (past due), if any."""
    link = (
        sub.invoice_links.filter(purpose=SubscriptionInvoice.Purpose.RENEWAL, invoice__status=Invoice.Status.OPEN)
        .select_related("invoice")
        .order_by("-period_start")
        .first()
    )
    return link.invoice if link else None


def plan_choices_for_coupons(selected: list[str]) -> list[tuple[str, str]]:
    """The plans a coupon campaign may be limited to (coupons' form asks): those on sale, and the
    ones it is limited to already even if archived since."""
    plans = Plan.objects.filter(Q(status=Plan.Status.ACTIVE) | Q(pk__in=list(selected))).order_by("name", "code")
    return [
        (plan.pk, f"{plan.name} ({plan.code})" + (" — archived" if plan.status != Plan.Status.ACTIVE else ""))
        for plan in plans
    ]


def plan_ids_existing(plan_ids: list[str]) -> set[str]:
    """Which of these plan ids exist (coupons asks, to check a campaign's `applies_to_plans`)."""
    return set(Plan.objects.filter(pk__in=list(plan_ids)).values_list("pk", flat=True))


# --- The customer page (plans.admin.customers): a customer's whole story, each part newest first


def _customer_page_querysets(customer) -> dict[str, QuerySet]:
    return {
        "subscriptions": Subscription.objects.filter(customer=customer).select_related("plan", "price"),
        "passes": Access.objects.filter(customer=customer).select_related("plan", "invoice"),
        "payments": Payment.objects.filter(customer=customer)
        .select_related("payment_method")
        .defer("payment_method__gateway_reference", "payment_method__fingerprint"),
        "invoices": Invoice.objects.filter(customer=customer),
        "refunds": Refund.objects.filter(payment__customer=customer).select_related("payment"),
        "discounts": Discount.objects.filter(customer=customer).select_related("coupon", "redemption__code"),
        # Brand and last four only: the gateway's card reference and the fingerprint stay unread.
        "cards": PaymentMethod.objects.filter(customer=customer).only(
            "id", "customer_id", "brand", "last4", "is_default", "created_at", "detached_at"
        ),
        "events": Event.objects.filter(customer_id=customer.pk).only("id", "type", "created_at", "customer_id"),
    }


def customer_page_rows(*, customer, sections, limit: int) -> dict[str, tuple[list, bool]]:
    """For each section asked for: its newest `limit` rows, with what they show fetched alongside
    (one query a section, however many rows), and whether there are more."""
    querysets = _customer_page_querysets(customer)
    found = {}
    for section in sections:
        rows = list(querysets[section].order_by("-created_at", "-pk")[: limit + 1])
        found[section] = (rows[:limit], len(rows) > limit)
    return found
