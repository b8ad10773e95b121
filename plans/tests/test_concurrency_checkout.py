"""Double taps on PostgreSQL with real threads: parallel checkouts of one plan by one customer make
one subscription and one charge; parallel upgrades of one subscription charge once."""

import pytest

from integrations.kernel.errors import DomainError
from integrations.tests.concurrency import run_at_once
from payments.gateways.sandbox.models import SandboxCharge
from payments.models import Payment
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.models import Subscription, SubscriptionInvoice
from plans.services import CheckoutResult, checkout, subscription_change_plan
from plans.tests.factories import PlanFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _codes(results) -> list[str]:
    return sorted(result.code for result in results if isinstance(result, DomainError))


def test_ten_checkouts_of_one_plan_at_once_make_one_subscription_and_one_charge():
    account = sandbox_account()
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=account)
    plan = PlanFactory(code="monthly", prices=[{"amount": "9.99", "currency": "EUR"}])

    results = run_at_once(lambda: checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id), [()] * 10)

    assert len([r for r in results if isinstance(r, CheckoutResult)]) == 1
    assert _codes(results) == ["subscription_exists"] * 9
    assert Subscription.objects.filter(customer=customer, plan=plan).count() == 1
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 1


def test_two_upgrades_of_one_subscription_at_once_charge_once():
    account = sandbox_account()
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=account)
    basic = PlanFactory(code="basic", prices=[{"amount": "5.00", "currency": "EUR"}])
    premium = PlanFactory(code="premium", prices=[{"amount": "20.00", "currency": "EUR"}])
    sub = checkout(customer=customer, plan_id=basic.id, payment_method_id=card.id).subscription

    results = run_at_once(lambda: subscription_change_plan(subscription=sub, plan=premium), [()] * 2)

    refused = _codes(results)
    assert len(refused) == 1 and refused[0] in ("plan_unchanged", "subscription_change_in_progress")
    upgrades = SubscriptionInvoice.objects.filter(subscription=sub, purpose=SubscriptionInvoice.Purpose.UPGRADE)
    assert upgrades.count() == 1
    assert SandboxCharge.objects.count() == 2  # the first period, and one upgrade
    sub.refresh_from_db()
    assert sub.plan_id == premium.id
