"""Two changes of one subscription at once write one MRR movement: two immediate cancels (one
churn), and two billing workers over the same trials ending (one conversion each)."""

from datetime import timedelta

import pytest

from integrations.kernel.errors import DomainError
from integrations.tests.concurrency import run_at_once
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.billing import run_billing
from plans.models import MrrMovement, Subscription
from plans.services import Trial, checkout, subscription_cancel
from plans.tests.factories import PlanFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _subscribe(plan, account):
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=account)
    return checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id).subscription


def test_two_immediate_cancels_at_once_churn_once():
    account = sandbox_account()
    sub = _subscribe(PlanFactory(prices=[{"amount": "10.00", "currency": "EUR"}]), account)

    def cancel():
        try:
            return subscription_cancel(subscription=Subscription.objects.get(pk=sub.pk), at_period_end=False).status
        except DomainError as error:
            return error.code

    results = run_at_once(cancel, [(), ()])

    assert sorted(results) == ["canceled", "subscription_not_active"]
    assert MrrMovement.objects.filter(subscription_id=sub.pk, kind="churn").count() == 1


def test_two_billing_workers_convert_each_trial_once():
    account = sandbox_account()
    plan = PlanFactory(trial=Trial(length=7, unit="day"), prices=[{"amount": "10.00", "currency": "EUR"}])
    subs = [_subscribe(plan, account) for _ in range(6)]
    as_of = max(s.trial_end for s in subs) + timedelta(minutes=1)

    run_at_once(lambda: run_billing(as_of=as_of), [(), ()])

    assert Subscription.objects.filter(status="active").count() == 6
    assert MrrMovement.objects.filter(kind="new", from_trial=True).count() == 6
    assert MrrMovement.objects.count() == 6
