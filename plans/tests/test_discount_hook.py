"""Coupons through the billing engine's discounts hook: a repeating coupon discounts the first
invoice and the renewals it covers, then stops."""

from datetime import timedelta

import pytest

from coupons.services import coupon_create
from payments.models import Invoice
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.billing import run_billing
from plans.models import Subscription
from plans.services import checkout
from plans.tests.factories import PlanFactory


@pytest.fixture
def signed_up(db):
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    coupon_create(
        name="Half off twice",
        kind="single_code",
        code="HALF2",
        discount={"type": "percent", "percent_off": "50"},
        duration="repeating",
        duration_cycles=2,
    )
    return checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id, coupon_code="half2").subscription


def totals() -> list[str]:
    return [
        f"{i.subtotal.amount:.2f}-{i.discount_total.amount:.2f}={i.total.amount:.2f}"
        for i in Invoice.objects.order_by("created_at")
    ]


def test_a_repeating_coupon_discounts_the_first_invoice_and_the_next_renewal_then_stops(signed_up):
    for _ in range(2):
        sub = Subscription.objects.get()
        run_billing(as_of=sub.current_period_end + timedelta(minutes=1))

    assert totals() == ["10.00-5.00=5.00", "10.00-5.00=5.00", "10.00-0.00=10.00"]
    assert set(Invoice.objects.values_list("status", flat=True)) == {"paid"}


def test_renewals_without_a_discount_are_not_discounted(db):
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    sub = checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id).subscription

    run_billing(as_of=sub.current_period_end + timedelta(minutes=1))

    assert totals() == ["10.00-0.00=10.00", "10.00-0.00=10.00"]
