"""Coupon races on PostgreSQL with real threads: a limited code at 50 checkouts at once, one customer
redeeming a once-per-customer coupon from 10 requests at once, two generations into one campaign."""

import random

import pytest

from coupons.models import Coupon, CouponCode, Redemption
from coupons.services import CODE_ALPHABET, coupon_create, coupon_redeem, generation
from coupons.services.generation import codes_generate
from integrations.kernel.errors import DomainError
from integrations.tests.concurrency import run_at_once
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.models import Subscription
from plans.services import checkout
from plans.tests.factories import PlanFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _outcomes(results) -> tuple[list, list]:
    failures = [r for r in results if isinstance(r, Exception)]
    unexpected = [r for r in failures if not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    return [r for r in results if not isinstance(r, Exception)], failures


def _percent(**terms) -> Coupon:
    return coupon_create(discount={"type": "percent", "percent_off": "50"}, **terms)


def test_fifty_checkouts_with_a_code_limited_to_ten_give_exactly_ten_redemptions():
    plan = PlanFactory(code="monthly", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    account = sandbox_account()
    buyers = []
    for _ in range(50):
        customer = CustomerFactory()
        buyers.append((customer, sandbox_card(customer=customer, account=account)))
    coupon = _percent(name="First ten", kind="single_code", code="FIRST10", max_redemptions=10)

    def buy(customer, card):
        return checkout(customer=customer, plan_id=plan.id, payment_method_id=card.id, coupon_code="first10")

    succeeded, refused = _outcomes(run_at_once(buy, buyers))

    assert len(succeeded) == 10
    assert len(refused) == 40
    assert {error.code for error in refused} == {"coupon_maxed_out"}
    coupon.refresh_from_db()
    assert coupon.times_redeemed == Redemption.objects.filter(coupon=coupon).count() == 10
    assert Redemption.objects.filter(coupon=coupon).values("customer").distinct().count() == 10
    assert Subscription.objects.count() == 10


def test_one_customer_redeeming_a_once_per_customer_coupon_ten_times_at_once_gets_it_once():
    customer = CustomerFactory()
    coupon = _percent(name="Welcome", kind="single_code", code="WELCOME", redemption_target="account")

    def redeem():
        return coupon_redeem(code="WELCOME", customer=customer, target="account")

    succeeded, refused = _outcomes(run_at_once(redeem, [()] * 10))

    assert len(succeeded) == 1
    assert {error.code for error in refused} == {"coupon_already_redeemed"}
    assert len(refused) == 9
    coupon.refresh_from_db()
    assert coupon.times_redeemed == Redemption.objects.filter(coupon=coupon, customer=customer).count() == 1


def _bulk() -> Coupon:
    return _percent(name="Mailing", kind="bulk", code_template="MAIL-********")


def test_two_generations_into_one_campaign_at_once_give_exactly_ten_thousand_distinct_codes():
    coupon = _bulk()

    results = run_at_once(lambda: codes_generate(coupon=coupon, count=5000), [(), ()])

    assert results == [5000, 5000]
    codes = list(CouponCode.objects.filter(coupon=coupon).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 10_000


def test_two_generations_drawing_the_same_codes_at_once_still_give_exact_totals(monkeypatch):
    """Both draw from one pool of 15,000 codes in batches of 500, so each keeps running into codes
    the other has written but not committed (waits, and deadlocks the database breaks)."""
    coupon = _bulk()
    pool = [f"MAIL-{''.join(random.choices(CODE_ALPHABET, k=8))}" for _ in range(15_000)]
    monkeypatch.setattr(generation, "BATCH_SIZE", 500)
    monkeypatch.setattr(generation, "codes_draw", lambda *, template, n: random.sample(pool, n))

    results = run_at_once(lambda: codes_generate(coupon=coupon, count=5000), [(), ()])

    assert results == [5000, 5000]
    codes = list(CouponCode.objects.filter(coupon=coupon).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 10_000
    assert set(codes) <= set(pool)
