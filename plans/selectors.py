"""Reads: the catalogue, subscriptions and what they entitle to."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from coupons.models import Discount
from integrations.kernel import clock
from integrations.kernel.errors import NotFound
from integrations.models import Event
from payments.models import Customer, Invoice, Payment, PaymentMethod, Refund
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


def entitlement_list(*, customer, as_of=None) -> list[dict]:
    """What the customer may watch now: the call every player makes at start-up, so two indexed
    queries and no per-row work in the database."""
    now = as_of or clock.now()
    entitlements = []
    subscriptions = Subscription.objects.filter(customer=customer, status__in=ENTITLED_STATUSES).select_related("plan")
    for sub in subscriptions:
        if not is_entitled(sub, now):
            continue
        until = grace_ends(sub) or sub.current_period_end
        entitlements.append(
            {
                "plan": sub.plan_id,
                "plan_code": sub.plan.code,
                "source": "subscription",
                "subscription": sub.id,
                "status": sub.status,
                "access_until": until,
            }
        )
    accesses = (
        Access.objects.filter(customer=customer, status=Access.Status.ACTIVE, access_until__gt=now)
        .select_related("plan")
        .order_by("-access_until")
    )
    entitlements.extend(
        {
            "plan": access.plan_id,
            "plan_code": access.plan.code,
            "source": "one_off",
            "subscription": None,
            "status": "active",
            "access_until": access.access_until,
        }
        for access in accesses
    )
    return entitlements


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
    if sub.status != Subscription.Status.PAST_DUE or sub.past_due_since is None:
        return None
    return sub.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)


def is_entitled(sub: Subscription, at: datetime | None = None) -> bool:
    at = at or clock.now()
    if sub.status == Subscription.Status.PAST_DUE:
        return grace_ends(sub) > at
    return sub.status in (Subscription.Status.TRIALING, Subscription.Status.ACTIVE)


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
