"""Coupon races on PostgreSQL with real threads: a limited code at 50 checkouts at once, one customer
redeeming a once-per-customer coupon from 10 requests at once, two generations into one campaign;
generations at once against the template's density limit, unknown codes at once against the
failed-attempt limit."""

import random

import pytest

from coupons.models import CodeGeneration, Coupon, CouponCode, Redemption
from coupons.services import CODE_ALPHABET, coupon_create, coupon_redeem, generation
from coupons.services.generation import codes_generate
from integrations.kernel.errors import DomainError
from integrations.tests.concurrency import run_at_once
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.models import Subscription
from plans.services import checkout, coupon_preview
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


# --- Guessing: the density limit and the failed-attempt limit hold under races --------------------


@pytest.fixture
def room_for_thirty_thousand(monkeypatch):
    """Every template's space holds 30,000 codes at a millionth full."""
    monkeypatch.setattr(generation, "code_space", lambda template: 30_000 * 1_000_000)


def test_six_generations_at_once_never_pass_the_density_limit_together(room_for_thirty_thousand):
    coupon = _bulk()

    succeeded, refused = _outcomes(run_at_once(lambda: codes_generate(coupon=coupon, count=8_000), [()] * 6))

    assert succeeded == [8_000] * 3  # 24,000; a fourth would make 32,000
    assert {error.code for error in refused} == {"code_template_exhausted"} and len(refused) == 3
    assert CouponCode.objects.filter(coupon=coupon).count() == 24_000


def test_six_background_requests_at_once_queue_only_what_the_template_can_hold(room_for_thirty_thousand, monkeypatch):
    coupon = _bulk()
    monkeypatch.setattr(generation, "async_task", lambda *args, **kwargs: None)  # queued, not run

    succeeded, refused = _outcomes(
        run_at_once(lambda: generation.codes_generate_enqueue(coupon=coupon, count=10_001), [()] * 6)
    )

    assert len(succeeded) == 2  # 20,002 reserved; a third would make 30,003
    assert {error.code for error in refused} == {"code_template_exhausted"} and len(refused) == 4
    assert CodeGeneration.objects.filter(coupon=coupon, status="queued").count() == 2


def test_a_generation_and_a_queued_request_at_once_share_the_limit(room_for_thirty_thousand, monkeypatch):
    first, second = _bulk(), _bulk()  # one template, two campaigns
    monkeypatch.setattr(generation, "async_task", lambda *args, **kwargs: None)

    results = run_at_once(
        lambda which: (
            codes_generate(coupon=first, count=20_000)
            if which == "inline"
            else generation.codes_generate_enqueue(coupon=second, count=20_000)
        ),
        [("inline",), ("queued",)],
    )

    succeeded, refused = _outcomes(results)
    assert len(succeeded) == 1 and [error.code for error in refused] == ["code_template_exhausted"]
    written = CouponCode.objects.filter(coupon__in=[first, second]).count()
    queued = sum(CodeGeneration.objects.values_list("requested", flat=True))
    assert written + queued == 20_000


def test_thirty_unknown_codes_at_once_from_one_customer_get_exactly_twenty_answers(settings):
    settings.COUPON_FAILED_ATTEMPTS_PER_CUSTOMER = "20/hour"
    settings.COUPON_FAILED_ATTEMPTS_PER_ADDRESS = "1000/hour"
    plan = PlanFactory(code="monthly", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    customer = CustomerFactory()

    results = run_at_once(
        lambda index: coupon_preview(customer=customer, code=f"GUESS-{index:04d}", plan=plan, address="192.0.2.1"),
        [(index,) for index in range(30)],
    )

    answered, limited = _outcomes(results)
    assert len(answered) == 20 and {body["reason"] for body in answered} == {"coupon_not_found"}
    assert len(limited) == 10 and {error.code for error in limited} == {"rate_limited"}
