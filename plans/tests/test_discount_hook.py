"""The discounts hook the billing engine offers coupons: a registered discount reaches the
renewal invoice as a discount line amount, on the one-by-one path."""

from datetime import timedelta

import pytest
from moneyed import Money

from payments.models import Invoice
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans import subscriptions
from plans.billing import run_billing
from plans.services import checkout
from plans.tests.factories import PlanFactory


@pytest.fixture
def half_off(monkeypatch):
    def hook(*, subscription, purpose, amount):
        return (
            Money((amount.amount / 2).quantize(amount.amount), amount.currency)
            if purpose == "renewal"
            else Money(0, amount.currency)
        )

    monkeypatch.setattr(subscriptions, "discount_hooks", [hook])
    monkeypatch.setattr("plans.billing.discount_hooks", subscriptions.discount_hooks)
    return hook


def test_a_registered_discount_is_taken_off_the_renewal_invoice(db, half_off):
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    sub = checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id).subscription

    run_billing(as_of=sub.current_period_end + timedelta(minutes=1))

    renewal = Invoice.objects.get(subscription_link__purpose="renewal")
    assert (renewal.subtotal.amount, renewal.discount_total.amount, renewal.total.amount) == (10, 5, 5)
    assert renewal.status == Invoice.Status.PAID
    assert renewal.payments.get().amount == Money("5.00", "EUR")


def test_without_discount_hooks_the_invoice_has_no_discount(db):
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    sub = checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id).subscription

    run_billing(as_of=sub.current_period_end + timedelta(minutes=1))

    assert Invoice.objects.get(subscription_link__purpose="renewal").discount_total.amount == 0
