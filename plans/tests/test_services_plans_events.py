"""The events the plan services write: plan.created, plan.updated (naming what changed) and
plan.archived with the plan object, and none for an update that changes nothing or a refused
create."""

import pytest

from integrations.kernel.errors import Conflict
from integrations.kernel.representation import datetime_repr
from integrations.models import Event
from plans.models import Plan
from plans.services import Trial, plan_archive, plan_create, plan_update
from plans.tests.factories import PlanFactory
from plans.tests.plan_services_helpers import _eur, _terms

pytestmark = pytest.mark.django_db


# events


def _plan_object(plan: Plan, prices: list[dict]) -> dict:
    plan.refresh_from_db()
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
        "trial": None
        if plan.trial_length is None
        else {
            "length": plan.trial_length,
            "unit": plan.trial_unit,
            "requires_payment_method": plan.trial_requires_payment_method,
        },
        "tax_behavior": plan.tax_behavior,
        "tax_category": plan.tax_category,
        "prices": prices,
        "status": plan.status,
        "created_at": datetime_repr(plan.created_at),
        "updated_at": datetime_repr(plan.updated_at),
    }


def test_create_writes_a_plan_created_event_with_the_plan_object():
    plan = plan_create(
        **_terms(
            description="HD streams.",
            trial=Trial(7, "day"),
            prices=[{"amount": "1500", "currency": "JPY"}, _eur("9.9"), {"amount": "3.25", "currency": "KWD"}],
        )
    )

    event = Event.objects.get(type="plan.created")
    assert event.id.startswith("evt_")
    assert event.payload == {
        "plan": _plan_object(
            plan,
            [
                {"amount": "9.90", "currency": "EUR"},
                {"amount": "1500", "currency": "JPY"},
                {"amount": "3.250", "currency": "KWD"},
            ],
        )
    }


def test_update_writes_a_plan_updated_event_naming_what_changed():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_update(plan=plan, name="Renamed", trial=Trial(7, "day"), prices=[_eur("12.00")])

    event = Event.objects.get(type="plan.updated")
    assert event.payload["changed"] == ["name", "trial", "prices"]
    assert event.payload["plan"] == _plan_object(plan, [{"amount": "12.00", "currency": "EUR"}])


def test_update_that_only_reprices_names_prices_as_changed():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_update(plan=plan, prices=[_eur("9.99"), {"amount": "1000", "currency": "JPY"}])

    assert Event.objects.get(type="plan.updated").payload["changed"] == ["prices"]


def test_update_that_changes_nothing_writes_no_event():
    plan = PlanFactory(name="Same", prices=[_eur("9.99")])

    plan_update(plan=plan, name="Same", prices=[_eur("9.99")])

    assert not Event.objects.filter(type="plan.updated").exists()


def test_archive_writes_a_plan_archived_event_with_the_archived_plan():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_archive(plan=plan)

    event = Event.objects.get(type="plan.archived")
    assert event.payload == {"plan": _plan_object(plan, [{"amount": "9.99", "currency": "EUR"}])}
    assert event.payload["plan"]["status"] == "archived"


def test_a_refused_create_writes_no_event():
    PlanFactory(code="taken")
    events = Event.objects.count()

    with pytest.raises(Conflict):
        plan_create(**_terms(code="taken"))

    assert Event.objects.count() == events
