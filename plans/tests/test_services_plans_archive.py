"""plan_archive and plan_delete: archiving takes a plan off sale (in use or not) and keeps its
prices, deleting is refused for a plan in use; and plan_is_referenced, which tells whether a
subscription, a pass or a coupon points at a plan."""

from decimal import Decimal

import pytest

from integrations.kernel.errors import Unprocessable
from integrations.models import Event
from plans.models import Plan, PlanPrice
from plans.selectors import plan_is_referenced
from plans.services import plan_archive, plan_delete
from plans.tests.factories import PlanFactory, plan_in_use
from plans.tests.plan_services_helpers import _current_prices, _eur

pytestmark = pytest.mark.django_db


# plan_archive / plan_delete


def test_archive_takes_the_plan_off_sale():
    plan = PlanFactory()

    plan_archive(plan=plan)

    plan.refresh_from_db()
    assert plan.status == Plan.Status.ARCHIVED
    assert plan.archived_at is not None


def test_archive_twice_changes_nothing_the_second_time():
    plan = PlanFactory()
    plan_archive(plan=plan)
    archived_at = Plan.objects.get(pk=plan.pk).archived_at

    again = plan_archive(plan=plan)

    assert again.status == Plan.Status.ARCHIVED
    assert Plan.objects.get(pk=plan.pk).archived_at == archived_at
    assert Event.objects.filter(type="plan.archived").count() == 1


def test_archive_keeps_the_prices():
    plan = PlanFactory(prices=[_eur("9.99")])

    plan_archive(plan=plan)

    assert _current_prices(plan) == {"EUR": Decimal("9.99")}


def test_archive_is_allowed_for_a_plan_in_use():
    plan = PlanFactory()
    plan_in_use(plan)

    plan_archive(plan=plan)

    assert Plan.objects.get(pk=plan.pk).status == Plan.Status.ARCHIVED


def test_delete_removes_a_plan_nobody_uses_with_its_prices():
    plan = PlanFactory()

    plan_delete(plan=plan)

    assert not Plan.objects.filter(pk=plan.pk).exists()
    assert not PlanPrice.objects.filter(plan_id=plan.pk).exists()


def test_delete_refuses_a_plan_in_use():
    plan = PlanFactory()
    plan_in_use(plan)

    with pytest.raises(Unprocessable) as raised:
        plan_delete(plan=plan)

    assert raised.value.code == "plan_in_use"
    assert Plan.objects.filter(pk=plan.pk).exists()
    assert PlanPrice.objects.filter(plan=plan).count() == 2


def test_plan_is_referenced_is_false_for_a_fresh_plan():
    assert plan_is_referenced(plan=PlanFactory()) is False


@pytest.mark.parametrize("by", ["subscription", "access", "coupon"])
def test_plan_is_referenced_by_a_subscription_a_pass_or_a_coupon(by):
    plan = PlanFactory(**({} if by != "access" else {"kind": "one_off", "interval": None, "access_days": 2}))
    other = PlanFactory()

    plan_in_use(plan, by=by)

    assert plan_is_referenced(plan=plan) is True
    assert plan_is_referenced(plan=other) is False
