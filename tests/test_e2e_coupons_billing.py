"""Coupons across renewals, over HTTP, with `run_billing --as-of` moving time: a repeating
coupon discounts its N cycles then stops; a forever coupon never stops; an account coupon and a
subscription coupon combine (subscription first, then account on the rest)."""

from datetime import UTC, datetime

import pytest

from tests.subscription_helpers import attach_card, checkout, invoices

pytestmark = pytest.mark.django_db

# Monthly periods from START (2030-01-10 12:00 UTC).
RENEWALS = [datetime(2030, month, 10, 12, 0, tzinfo=UTC) for month in (2, 3, 4, 5)]


def create_coupon(billing, **fields):
    response = billing.operator.post("/api/v1/coupons", fields, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def totals(app) -> list[str]:
    return [invoice["total"]["amount"] for invoice in sorted(invoices(app), key=lambda i: i["created_at"])]


def run_renewals(billing, count: int) -> None:
    for when in RENEWALS[:count]:
        billing.run(when)


def test_a_repeating_coupon_discounts_its_cycles_then_stops(billing, app, monthly):
    create_coupon(
        billing,
        name="Half off for 3",
        kind="single_code",
        code="HALF3",
        discount={"type": "percent", "percent_off": "50"},
        duration="repeating",
        duration_cycles=3,
    )
    response = checkout(app, monthly, attach_card(app), coupon_code="half3")
    assert response.status_code == 201, response.content

    run_renewals(billing, 4)

    assert totals(app) == ["4.99", "4.99", "4.99", "9.99", "9.99"]


def test_a_forever_coupon_discounts_every_renewal(billing, app, monthly):
    create_coupon(
        billing,
        name="Two off forever",
        kind="single_code",
        code="TWOOFF",
        discount={"type": "amount", "amounts_off": [{"amount": "2.00", "currency": "EUR"}]},
        duration="forever",
    )
    checkout(app, monthly, attach_card(app), coupon_code="TWOOFF")

    run_renewals(billing, 4)

    assert totals(app) == ["7.99"] * 5


def test_an_account_coupon_and_a_subscription_coupon_combine_subscription_first(billing, app, monthly):
    create_coupon(
        billing,
        name="10% at signup",
        kind="single_code",
        code="TEN",
        discount={"type": "percent", "percent_off": "10"},
        duration="forever",
    )
    create_coupon(
        billing,
        name="1 off the account",
        kind="single_code",
        code="ONEOFF",
        redemption_target="account",
        discount={"type": "amount", "amounts_off": [{"amount": "1.00", "currency": "EUR"}]},
        duration="forever",
    )
    checkout(app, monthly, attach_card(app), coupon_code="TEN")
    assert app.post("/api/v1/me/coupons/redeem", {"code": "ONEOFF"}, format="json").status_code == 201

    run_renewals(billing, 1)

    # First invoice: 10% only (the account coupon came after). Renewal: 9.99 - 1.00 (10%, half-up)
    # = 8.99, then 1.00 off what is left = 7.99.
    assert totals(app) == ["8.99", "7.99"]


def test_a_100_percent_coupon_gives_zero_invoices_marked_paid_with_no_charge(billing, app, monthly):
    from payments.gateways.sandbox.models import SandboxCharge

    create_coupon(
        billing,
        name="Free forever",
        kind="single_code",
        code="FREE100",
        discount={"type": "percent", "percent_off": "100"},
        duration="forever",
    )
    body = checkout(app, monthly, attach_card(app), coupon_code="FREE100").json()
    assert body["subscription"]["status"] == "active"
    assert body["payment"] is None and body["invoice"]["status"] == "paid"

    run_renewals(billing, 2)

    assert totals(app) == ["0.00", "0.00", "0.00"]
    assert {i["status"] for i in invoices(app)} == {"paid"}
    assert not SandboxCharge.objects.exists()


def test_expiring_a_bulk_campaign_expires_its_unused_codes_and_restoring_brings_them_back(billing):
    from coupons.models import CouponCode

    coupon = create_coupon(
        billing,
        name="Bulk",
        kind="bulk",
        code_template="BULK-********",
        discount={"type": "percent", "percent_off": "10"},
    )
    assert (
        billing.operator.post(f"/api/v1/coupons/{coupon['id']}/codes", {"count": 5}, format="json").status_code == 201
    )
    billing.operator.post(f"/api/v1/coupons/{coupon['id']}/expire")
    assert set(CouponCode.objects.values_list("state", flat=True)) == {"expired"}
    billing.operator.post(f"/api/v1/coupons/{coupon['id']}/restore", {}, format="json")
    assert set(CouponCode.objects.values_list("state", flat=True)) == {"redeemable"}
