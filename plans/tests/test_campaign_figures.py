"""Campaign figures count what each coupon gave: an invoice discounted by a subscription's coupon and
its account's coupon credits each with its own part (coupons.DiscountGiven, written with the
invoice); a pass's coupon its pass; a purchase whose first payment failed gives its redemption
back and credits nothing. The figures are read from the daily campaign snapshots."""

from datetime import timedelta

import pytest
from moneyed import Money

from coupons.models import DiscountGiven, Redemption
from coupons.services import coupon_create, coupon_redeem_on_account
from integrations.kernel.errors import CardError
from payments.models import Invoice
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.billing import run_billing
from plans.metrics import coupon_campaign_figures
from plans.models import CampaignSnapshot, Subscription
from plans.services import checkout
from plans.services.snapshots import metric_snapshots_write
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


@pytest.fixture
def campaigns(db):
    coupon_create(
        name="Ten percent",
        kind="single_code",
        code="SUB10",
        discount={"type": "percent", "percent_off": "10"},
        duration="forever",
    )
    coupon_create(
        name="Two off the account",
        kind="single_code",
        code="ACC2",
        discount={"type": "amount", "amounts_off": [{"amount": "2.00", "currency": "EUR"}]},
        duration="forever",
        redemption_target="account",
    )
    coupon_create(
        name="Pass half",
        kind="single_code",
        code="PASS50",
        discount={"type": "percent", "percent_off": "50"},
        duration="once",
    )


def given() -> list[tuple]:
    return sorted(
        (row.coupon.name, row.amount) for row in DiscountGiven.objects.select_related("coupon").order_by("pk")
    )


def figures(first, last) -> dict[str, tuple]:
    metric_snapshots_write(first=first, last=last)
    return {
        row["name"]: (row["redemptions"], row["discount_given"])
        for row in coupon_campaign_figures(date_from=first, date_to=last)["results"]
    }


def test_an_invoice_discounted_by_a_subscription_and_an_account_coupon_credits_each_its_part(campaigns):
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    coupon_redeem_on_account(customer=customer, code="ACC2")
    bought = checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id, coupon_code="SUB10")

    # 10 % of 10.00 first (1.00), then 2.00 off the 9.00 left: 3.00 in all.
    assert bought.invoice.discount_total == eur("3.00")
    assert given() == [("Ten percent", eur("1.00")), ("Two off the account", eur("2.00"))]

    sub = Subscription.objects.get()
    run_billing(as_of=sub.current_period_end + timedelta(minutes=1))
    renewal = sub.invoice_links.get(purpose="renewal").invoice
    first_day = bought.invoice.paid_at.date()
    renewal_day = first_day + timedelta(days=31)
    Invoice.objects.filter(pk=renewal.pk).update(paid_at=renewal.paid_at + timedelta(days=31))  # paid a month on

    assert figures(first_day, renewal_day) == {
        "Ten percent": (1, [eur("2.00")]),
        "Two off the account": (1, [eur("4.00")]),
    }
    assert figures(renewal_day, renewal_day) == {
        "Ten percent": (0, [eur("1.00")]),
        "Two off the account": (0, [eur("2.00")]),
    }


def test_a_pass_credits_its_coupon_and_a_failed_first_payment_credits_nothing(campaigns):
    customer = CustomerFactory()
    account = sandbox_account()
    day_pass = PlanFactory(
        code="day", kind="one_off", interval=None, access_days=1, prices=[{"amount": "4.00", "currency": "EUR"}]
    )
    bought = checkout(
        customer=customer,
        plan_id=day_pass.id,
        payment_method_id=sandbox_card(customer=customer, account=account).id,
        coupon_code="PASS50",
    )
    assert bought.invoice.discount_total == eur("2.00") and given() == [("Pass half", eur("2.00"))]

    someone_else = CustomerFactory()
    declined = sandbox_card(customer=someone_else, account=account, number="4000000000000002")
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    with pytest.raises(CardError):
        checkout(customer=someone_else, plan_id=plan.id, payment_method_id=declined.id, coupon_code="SUB10")

    assert not Redemption.objects.filter(customer=someone_else).exists()
    assert given() == [("Pass half", eur("2.00"))]
    day = bought.invoice.paid_at.date()
    assert figures(day, day) == {"Pass half": (1, [eur("2.00")])}
    assert CampaignSnapshot.objects.filter(day=day).count() == 1


def test_the_upgrade_credits_invoices_made_before_discounts_were_recorded_as_the_figures_did(campaigns):
    from importlib import import_module

    from django.apps import apps

    backfill = import_module("plans.migrations.0012_campaign_snapshots").discounts_given_backfill
    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id, coupon_code="SUB10")
    loyal = CustomerFactory()
    coupon_redeem_on_account(customer=loyal, code="ACC2")  # the one account-level coupon: its invoices are its
    checkout(
        customer=loyal, plan_id=plan.id, payment_method_id=sandbox_card(customer=loyal, account=card.gateway_account).id
    )
    expected = given()
    DiscountGiven.objects.all().delete()  # as before the upgrade

    backfill(apps, None)
    backfill(apps, None)  # twice: nothing more

    assert given() == expected == [("Ten percent", eur("1.00")), ("Two off the account", eur("2.00"))]


def test_today_counts_at_once_and_once_after_the_snapshot_task_ran(campaigns):
    from integrations.kernel import clock

    customer = CustomerFactory()
    card = sandbox_card(customer=customer, account=sandbox_account())
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id, coupon_code="SUB10")
    today = clock.now().date()

    def answer():
        return [
            (row["name"], row["redemptions"], row["discount_given"])
            for row in coupon_campaign_figures(date_from=today - timedelta(days=7), date_to=today)["results"]
        ]

    assert answer() == [("Ten percent", 1, [eur("1.00")])]  # before any snapshot task
    metric_snapshots_write(first=today, last=today)
    assert CampaignSnapshot.objects.filter(day=today).count() == 1
    assert answer() == [("Ten percent", 1, [eur("1.00")])]
