"""The subscriber's whole life that each connector's end-to-end test drives (tests/test_e2e_connectors_*.py):
created by the operator's API, a 7-day trial with a card, the first invoice paid at the trial's
end, the renewal failed (past due), recovered by a new card, optionally an account coupon redeemed,
canceled, and 4.00 of the last payment refunded. Over HTTP and `run_billing --as-of`, calling
`after(step, life)` once each step is done, as the connector's schedule would run."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from dateutil.relativedelta import relativedelta

from payments.models import Customer
from plans.services import Trial
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import (
    NO_FUNDS_CARD,
    START,
    Billing,
    attach_card,
    checkout,
    make_default,
    payments,
    subscription,
)
from tests.subscription_lifecycle_helpers import cancel

STEPS = ("created", "trialing", "paid", "past_due", "recovered", "coupon_redeemed", "canceled", "refunded")
TRIAL_END = START + timedelta(days=7)
RENEWAL = TRIAL_END + relativedelta(months=1)


@pytest.fixture(name="billing")
def fixture_billing(api_key, django_capture_on_commit_callbacks, settings):
    """As tests/conftest.py's, but the clock ticks from START: events keep the order they were written
    in (a frozen clock gives every event of a request the same created_at)."""
    from payments.services import gateway_account_create

    settings.CONNECTOR_SETTLE_SECONDS = 0
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    with time_machine.travel(START, tick=True) as traveller:
        yield Billing(traveller=traveller, capture=django_capture_on_commit_callbacks, api_key=api_key)


@pytest.fixture(name="trial_plan")
def fixture_trial_plan(db):
    return PlanFactory(
        code="stream-monthly", name="Streaming monthly", trial=Trial(7, "day", requires_payment_method=True)
    )


@dataclass
class Life:
    customer: Customer | None = None
    app: object = None
    subscription_id: str = ""
    refund_id: str = ""


def subscriber_life(
    billing: Billing,
    plan,
    *,
    after: Callable[[str, Life], None],
    card: str | None = None,
    redeem_coupon: bool = False,
) -> Life:
    """Live the life with `plan`, paying with `card` (the sandbox's default card when None)."""
    life = Life()

    def attach(number=None):
        return attach_card(life.app, number) if number else attach_card(life.app)

    created = billing.operator.post(
        "/api/v1/customers",
        {"external_id": "viewer-1", "email": "Ada@Example.com", "country": "DE", "name": "Ada Lovelace"},
        format="json",
    )
    assert created.status_code == 201, created.content
    life.customer = Customer.objects.get(pk=created.json()["id"])
    life.app = billing.app(life.customer)
    after("created", life)

    started = checkout(life.app, plan, attach(card))
    assert started.status_code == 201, started.content
    life.subscription_id = started.json()["subscription"]["id"]
    assert started.json()["subscription"]["status"] == "trialing"
    after("trialing", life)

    billing.run(TRIAL_END + timedelta(minutes=1))
    assert subscription(life.app, life.subscription_id)["status"] == "active"
    after("paid", life)

    make_default(life.app, attach(NO_FUNDS_CARD))
    billing.run(RENEWAL + timedelta(minutes=1))
    assert subscription(life.app, life.subscription_id)["status"] == "past_due"
    after("past_due", life)

    billing.travel(RENEWAL + timedelta(hours=5))
    make_default(life.app, attach(card))
    assert subscription(life.app, life.subscription_id)["status"] == "active"
    after("recovered", life)

    if redeem_coupon:
        coupon = billing.operator.post(
            "/api/v1/coupons",
            {
                "name": "Loyalty",
                "kind": "single_code",
                "code": "LOYAL20",
                "discount": {"type": "percent", "percent_off": "20"},
                "redemption_target": "account",
            },
            format="json",
        )
        assert coupon.status_code == 201, coupon.content
        redeemed = life.app.post("/api/v1/me/coupons/redeem", {"code": "loyal20"}, format="json")
        assert redeemed.status_code == 201, redeemed.content
        after("coupon_redeemed", life)

    billing.travel(RENEWAL + timedelta(days=2))
    cancel(life.app, life.subscription_id, at_period_end=False)
    after("canceled", life)

    last_paid = [p for p in payments(life.app) if p["status"] == "succeeded"][-1]
    refunded = billing.operator.post(f"/api/v1/payments/{last_paid['id']}/refunds", {"amount": "4.00"}, format="json")
    assert refunded.status_code == 201, refunded.content
    life.refund_id = refunded.json()["id"]
    after("refunded", life)
    return life
