"""The one MRR rule (plans/services/mrr.py) and the movement each transition of a subscription writes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments.services import payment_method_set_default
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.billing import run_billing
from plans.models import MrrMovement, Subscription
from plans.services import Trial, checkout, subscription_cancel, subscription_pause, subscription_resume
from plans.services.imports import subscribers_import
from plans.services.mrr import TaxBasis, monthly_value
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db
NO_TAX = TaxBasis(rate=Decimal(0), inclusive=True)


def value(amount, interval="month", count=1, discount="0", tax=NO_TAX, currency="EUR"):
    return monthly_value(
        amount=Decimal(amount),
        currency=currency,
        interval=interval,
        interval_count=count,
        forever_discount=Decimal(discount),
        tax=tax,
    )


def test_monthly_value_normalizes_intervals_deducts_forever_discounts_and_excludes_tax():
    assert value("120.00", "year") == Decimal("10.00")  # 120 / 12
    assert value("30.00", "month", 3) == Decimal("10.00")  # a quarter
    assert value("7.00", "week") == Decimal("30.44")  # 7 x 30.436875 / 7
    assert value("10.00", discount="2.00") == Decimal("8.00")
    assert value("12.00", tax=TaxBasis(rate=Decimal("0.20"), inclusive=True)) == Decimal("10.00")  # 12 / 1.2
    assert value("10.00", tax=TaxBasis(rate=Decimal("0.20"), inclusive=False)) == Decimal("10.00")  # exclusive: net
    assert value("1000", "year", currency="JPY") == Decimal("83")  # 83.33 rounded to yen


def kinds(sub=None) -> list[tuple[str, str]]:
    found = MrrMovement.objects.order_by("occurred_at", "id")
    if sub is not None:
        found = found.filter(subscription_id=sub.pk)
    return [(m.kind, f"{m.amount:.2f}") for m in found]


@pytest.fixture
def bought():
    account = sandbox_account()

    def buy(plan, customer=None):
        customer = customer or CustomerFactory()
        card = sandbox_card(customer=customer, account=account)
        result = checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id)
        return Subscription.objects.get(pk=result.subscription.pk) if result.subscription else result

    return buy


@pytest.fixture
def monthly(db):
    return PlanFactory(prices=[{"amount": "10.00", "currency": "EUR"}])


def test_a_first_payment_is_new_mrr_and_an_immediate_cancel_churns_it_now(bought, monthly):
    sub = bought(monthly)
    assert kinds(sub) == [("new", "10.00")] and sub.mrr == Decimal("10.00")

    subscription_cancel(subscription=sub, at_period_end=False)

    churn = MrrMovement.objects.get(subscription=sub, kind="churn")
    ended = Subscription.objects.get(pk=sub.pk)
    assert churn.occurred_at == ended.ended_at and ended.canceled_at == ended.ended_at and ended.mrr == 0


def test_a_cancel_at_period_end_churns_at_the_end_of_the_paid_period(bought, monthly):
    sub = bought(monthly)
    subscription_cancel(subscription=sub, at_period_end=True)
    assert kinds(sub) == [("new", "10.00")]

    run_billing(as_of=sub.current_period_end + timedelta(hours=1))

    assert MrrMovement.objects.get(subscription=sub, kind="churn").occurred_at == sub.current_period_end


def test_a_pause_churns_and_a_resume_reactivates(bought, monthly):
    sub = bought(monthly)
    subscription_pause(subscription=sub)
    subscription_resume(subscription=sub)

    assert kinds(sub) == [("new", "10.00"), ("churn", "10.00"), ("reactivation", "10.00")]


def test_a_second_subscription_of_a_paying_customer_is_expansion_and_its_end_contraction(bought, monthly):
    sub = bought(monthly)
    other = bought(PlanFactory(prices=[{"amount": "5.00", "currency": "EUR"}]), customer=sub.customer)
    subscription_cancel(subscription=other, at_period_end=False)

    assert kinds() == [("new", "10.00"), ("expansion", "5.00"), ("contraction", "5.00")]


def test_trials_one_off_passes_and_free_plans_have_no_mrr(bought):
    trialing = bought(PlanFactory(trial=Trial(length=7, unit="day")))
    bought(PlanFactory(kind="one_off", interval=None, access_days=2))
    bought(PlanFactory(prices=[{"amount": "0.00", "currency": "EUR"}]))

    assert trialing.status == "trialing" and kinds() == []


def test_a_trial_that_converts_is_new_mrr_from_a_trial(bought):
    sub = bought(PlanFactory(trial=Trial(length=7, unit="day"), prices=[{"amount": "10.00", "currency": "EUR"}]))

    run_billing(as_of=sub.trial_end + timedelta(minutes=1))

    movement = MrrMovement.objects.get(subscription=sub)
    assert (movement.kind, movement.from_trial, movement.occurred_at) == ("new", True, sub.trial_end)


def test_renewals_at_the_same_price_write_no_movement(bought, monthly):
    subs = [bought(monthly) for _ in range(3)]
    before = MrrMovement.objects.count()

    outcome = run_billing(as_of=subs[-1].current_period_end + timedelta(minutes=1))

    assert outcome.get("renewing") == 3
    assert MrrMovement.objects.count() == before


def test_dunning_that_gives_up_churns_the_subscription(bought, monthly, settings):
    sub = bought(monthly)
    card = sandbox_card(customer=sub.customer, account=sandbox_account(), number="4000000000009995")
    payment_method_set_default(payment_method=card)
    when = sub.current_period_end + timedelta(minutes=1)
    run_billing(as_of=when)
    assert Subscription.objects.get(pk=sub.pk).status == "past_due" and kinds(sub) == [("new", "10.00")]
    for days in settings.BILLING_RETRY_DAYS:
        run_billing(as_of=when + timedelta(days=days, minutes=1))

    assert Subscription.objects.get(pk=sub.pk).status == "canceled"
    assert kinds(sub) == [("new", "10.00"), ("churn", "10.00")]


def test_an_imported_subscriber_is_new_mrr(monthly):
    paid_through = (timezone.now() + timedelta(days=10)).date().isoformat()
    [result] = subscribers_import(
        rows=[
            {
                "external_id": "old-1",
                "email": "old@example.com",
                "country": "DE",
                "plan": monthly.code,
                "paid_through": paid_through,
            }
        ]
    )

    assert result.outcome == "created"
    assert kinds(Subscription.objects.get(pk=result.subscription_id)) == [("new", "10.00")]
