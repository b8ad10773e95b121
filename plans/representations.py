"""How plans' resources look outside: one function each, which the API answers with and events
carry (the API serializers only describe them)."""

from integrations.kernel.representation import datetime_repr
from payments.currency import money_repr
from payments.representations import price_tax_repr
from plans.models import Access, Plan, Subscription
from plans.selectors import grace_ends, plan_current_prices


def _plan_terms(plan: Plan) -> dict:
    trial = None
    if plan.has_trial:
        trial = {
            "length": plan.trial_length,
            "unit": plan.trial_unit,
            "requires_payment_method": plan.trial_requires_payment_method,
        }
    return {
        "id": plan.id,
        "code": plan.code,
        "name": plan.name,
        "description": plan.description,
        "kind": plan.kind,
        "interval": plan.interval or None,
        "interval_count": plan.interval_count if plan.kind == Plan.Kind.RECURRING else None,
        "billing_cycles": plan.billing_cycles,
        "access_days": plan.access_days,
        "trial": trial,
        "tax_behavior": plan.tax_behavior,
        "tax_category": plan.tax_category,
        "status": plan.status,
    }


def plan_repr(plan: Plan) -> dict:
    """The operator's view of a plan: every current price."""
    return {
        **_plan_terms(plan),
        "prices": [money_repr(p.amount) for p in plan_current_prices(plan=plan)],
        "created_at": datetime_repr(plan.created_at),
        "updated_at": datetime_repr(plan.updated_at),
    }


def plan_for_sale_repr(plan: Plan) -> dict:
    """A customer's view of a plan on sale (`plan_list_for_sale`, quoted by `plans_priced_for`):
    `price` in their currency as the plan is priced, and as it is charged to them: `price_tax`
    (null where no tax applies) and `price_total`, what they pay."""
    quote = plan.price_quote
    return {
        **_plan_terms(plan),
        "price": money_repr(plan.prices_in_currency[0].amount),
        "price_tax": price_tax_repr(quote),
        "price_total": money_repr(quote.total),
    }


def subscription_repr(sub: Subscription) -> dict:
    return {
        "id": sub.id,
        "object": "subscription",
        "customer": sub.customer_id,
        "plan": sub.plan_id,
        "status": sub.status,
        "price": money_repr(sub.price.amount),
        "payment_method": sub.payment_method_id,
        "current_period_start": datetime_repr(sub.current_period_start),
        "current_period_end": datetime_repr(sub.current_period_end),
        "trial_start": datetime_repr(sub.trial_start),
        "trial_end": datetime_repr(sub.trial_end),
        "cycles_billed": sub.cycles_billed,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": datetime_repr(sub.canceled_at),
        "cancel_reason": sub.cancel_reason or None,
        "ended_at": datetime_repr(sub.ended_at),
        "pending_plan": sub.pending_price.plan_id if sub.pending_price_id else None,
        "grace_until": datetime_repr(grace_ends(sub)),
        "created_at": datetime_repr(sub.created_at),
    }


def access_repr(access: Access) -> dict:
    """The access a one-off purchase grants."""
    return {
        "id": access.id,
        "object": "access",
        "plan": access.plan_id,
        "status": access.status,
        "access_from": datetime_repr(access.access_from),
        "access_until": datetime_repr(access.access_until),
        "created_at": datetime_repr(access.created_at),
    }
