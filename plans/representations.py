"""How plans' resources look outside: in event payloads (and, through the serializers, the API)."""

from payments.currency import money_repr
from plans.models import Plan, Subscription
from plans.selectors import plan_current_prices


def plan_payload(plan: Plan) -> dict:
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
        "interval_count": plan.interval_count,
        "billing_cycles": plan.billing_cycles,
        "access_days": plan.access_days,
        "trial": trial,
        "prices": [money_repr(p.amount) for p in plan_current_prices(plan=plan)],
        "status": plan.status,
    }


def subscription_payload(sub: Subscription) -> dict:
    return {
        "id": sub.id,
        "customer": sub.customer_id,
        "plan": sub.plan_id,
        "status": sub.status,
        "price": money_repr(sub.price.amount),
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "trial_end": sub.trial_end,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "cancel_reason": sub.cancel_reason or None,
    }
