"""The coupon.* events a campaign's life writes, read from the operator's event log over HTTP:
created, redeemed, maxed out, expired and restored."""

from datetime import timedelta

from django.utils import timezone

from tests.coupon_fixtures import fixture_card, fixture_monthly  # noqa: F401 (the card and monthly fixtures)
from tests.coupon_helpers import checkout, created, iso

# --- Events -------------------------------------------------------------------------------------


def event_types(operator_client) -> list[str]:
    events = operator_client.get("/api/v1/events").json()["results"]
    return [e["type"] for e in reversed(events) if e["type"].startswith("coupon.")]


def test_a_campaigns_life_is_recorded_as_events(operator_client, customer_client, card, monthly):
    coupon = created(operator_client, max_redemptions=1)
    assert checkout(customer_client, monthly, card, "SPRING25").status_code == 201
    operator_client.post(f"/api/v1/coupons/{coupon['id']}/expire")
    operator_client.post(f"/api/v1/coupons/{coupon['id']}/restore", {}, format="json")

    assert event_types(operator_client) == [
        "coupon.created",
        "coupon.redeemed",
        "coupon.maxed_out",
        "coupon.expired",
        "coupon.restored",
    ]
    redeemed = operator_client.get("/api/v1/events?type=coupon.redeemed").json()["results"][0]
    assert redeemed["customer"] == customer_client.get("/api/v1/me").json()["id"]
    assert redeemed["data"]["coupon"]["id"] == coupon["id"]


def test_a_campaign_restored_after_its_redeem_by_passed_records_coupon_restored(operator_client):
    coupon = created(operator_client)
    operator_client.patch(
        f"/api/v1/coupons/{coupon['id']}", {"redeem_by": iso(timezone.now() - timedelta(minutes=1))}, format="json"
    )

    operator_client.post(
        f"/api/v1/coupons/{coupon['id']}/restore",
        {"redeem_by": iso(timezone.now() + timedelta(days=1))},
        format="json",
    )

    assert "coupon.restored" in event_types(operator_client)


def test_coupon_redeemed_names_the_coupon_redemption_and_subscription_but_never_the_code(
    operator_client, customer_client, card, monthly
):
    from coupons.models import CouponCode, Redemption

    coupon = created(operator_client, name="Bulk spring", kind="bulk", code=None, code_template="BULK-********")
    generated = operator_client.post(f"/api/v1/coupons/{coupon['id']}/codes", {"count": 3}, format="json")
    assert generated.status_code == 201, generated.content
    code = CouponCode.objects.filter(coupon_id=coupon["id"]).first().code
    started = checkout(customer_client, monthly, card, code.lower())
    assert started.status_code == 201, started.content

    (event,) = operator_client.get("/api/v1/events?type=coupon.redeemed").json()["results"]
    redemption = Redemption.objects.get()
    assert event["customer"] == customer_client.get("/api/v1/me").json()["id"]
    assert event["data"] == {
        "coupon": {"id": coupon["id"], "name": "Bulk spring"},
        "redemption": {"id": redemption.public_id},
        "subscription": started.json()["subscription"]["id"],
    }
    assert redemption.public_id.startswith("red_")
    assert code not in str(event) and code.lower() not in str(event)


def test_an_account_coupon_redeemed_has_no_subscription(operator_client, customer_client):
    created(operator_client, redemption_target="account")
    assert customer_client.post("/api/v1/me/coupons/redeem", {"code": "SPRING25"}, format="json").status_code == 201

    (event,) = operator_client.get("/api/v1/events?type=coupon.redeemed").json()["results"]
    assert event["data"]["subscription"] is None
    assert "SPRING25" not in str(event["data"])
