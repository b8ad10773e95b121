"""Helpers shared by the plan service tests (plans/tests/test_services_plans_*.py): a plan's terms
and prices to pass to plan_create, the current prices of a plan, and `_refused`, which checks that
a refused call wrote nothing."""

from decimal import Decimal

import pytest

from integrations.models import Event
from plans.models import Plan, PlanPrice


def _eur(amount="9.99"):
    return {"amount": amount, "currency": "EUR"}


def _terms(**overrides):
    terms = {
        "code": "monthly-hd",
        "name": "Monthly HD",
        "kind": "recurring",
        "interval": "month",
        "prices": [_eur()],
    }
    terms.update(overrides)
    return terms


def _one_off_terms(**overrides):
    return _terms(**{"code": "pass-48h", "kind": "one_off", "interval": None, "access_days": 2, **overrides})


def _current_prices(plan) -> dict[str, Decimal]:
    return {p.currency: p.amount.amount for p in PlanPrice.objects.filter(plan=plan, is_current=True)}


def _refused(error_class, call, *, code, param):
    """Runs `call`, asserts it raised `error_class` with `code` and `param`, and that nothing was written."""
    counts = (Plan.objects.count(), PlanPrice.objects.count(), Event.objects.count())
    with pytest.raises(error_class) as raised:
        call()
    assert (raised.value.code, raised.value.param) == (code, param)
    assert (Plan.objects.count(), PlanPrice.objects.count(), Event.objects.count()) == counts
    return raised.value
