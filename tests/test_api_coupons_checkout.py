"""Coupons applied over HTTP through the sandbox gateway: a percent or free-trial coupon at checkout,
an account coupon redeemed by the customer and taken off the renewal, and the coupons refused at
checkout or on redemption."""

from datetime import timedelta

from plans.billing import run_billing
from plans.models import Subscription
from tests.coupon_fixtures import fixture_card, fixture_monthly, fixture_yearly  # noqa: F401 (fixtures)
from tests.coupon_helpers import checkout, created, error

# --- Checkout and renewals ----------------------------------------------------------------------


def test_a_percent_coupon_discounts_the_first_invoice_of_a_recurring_plan(
    operator_client, customer_client, card, monthly
):
    created(operator_client)

    response = checkout(customer_client, monthly, card, "spring25")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["invoice"]["subtotal"] == {"amount": "10.00", "currency": "EUR"}
    assert body["invoice"]["discount_total"] == {"amount": "2.50", "currency": "EUR"}
    assert body["invoice"]["total"] == {"amount": "7.50", "currency": "EUR"}
    assert body["payment"]["amount"] == {"amount": "7.50", "currency": "EUR"}
    assert body["subscription"]["status"] == "active"
    assert operator_client.get("/api/v1/coupons").json()["results"][0]["times_redeemed"] == 1


def test_a_free_trial_coupon_starts_a_trial_of_its_length(operator_client, customer_client, card, monthly):
    created(operator_client, code="TRIAL30", discount={"type": "free_trial", "trial": {"length": 30, "unit": "day"}})

    response = checkout(customer_client, monthly, card, "TRIAL30")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subscription"]["status"] == "trialing"
    assert body["invoice"] is None
    sub = Subscription.objects.get(pk=body["subscription"]["id"])
    assert sub.trial_end - sub.trial_start == timedelta(days=30)


def test_an_account_coupon_redeemed_by_the_customer_discounts_the_renewal(
    operator_client, customer_client, card, monthly
):
    created(
        operator_client, code="LOYAL20", redemption_target="account", discount={"type": "percent", "percent_off": "20"}
    )
    first = checkout(customer_client, monthly, card).json()
    assert first["invoice"]["discount_total"]["amount"] == "0.00"

    redeemed = customer_client.post("/api/v1/me/coupons/redeem", {"code": "loyal20"}, format="json")
    sub = Subscription.objects.get()
    run_billing(as_of=sub.current_period_end + timedelta(minutes=1))

    assert redeemed.status_code == 201, redeemed.content
    body = redeemed.json()
    assert body["coupon"]["code"] == "LOYAL20"
    assert body["coupon"]["times_redeemed"] == 1
    assert body["discount"]["scope"] == "account"
    assert body["discount"]["cycles_remaining"] == 1
    assert body["discount"]["active"] is True
    invoices = customer_client.get("/api/v1/me/invoices").json()["results"]
    assert [(i["subtotal"]["amount"], i["discount_total"]["amount"], i["total"]["amount"]) for i in invoices] == [
        ("10.00", "2.00", "8.00"),
        ("10.00", "0.00", "10.00"),
    ]


def test_an_account_coupon_at_checkout_is_coupon_not_applicable(operator_client, customer_client, card, monthly):
    created(operator_client, redemption_target="account")

    body = error(checkout(customer_client, monthly, card, "SPRING25"), 400)

    assert body["code"] == "coupon_not_applicable"


def test_a_checkout_coupon_redeemed_on_the_account_is_coupon_not_applicable(operator_client, customer_client):
    created(operator_client)

    response = customer_client.post("/api/v1/me/coupons/redeem", {"code": "SPRING25"}, format="json")

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("coupon_not_applicable", "code")


def test_redeeming_an_unknown_code_is_coupon_not_found(customer_client):
    response = customer_client.post("/api/v1/me/coupons/redeem", {"code": "NOPE-NOPE"}, format="json")

    assert error(response, 400)["code"] == "coupon_not_found"


def test_an_amount_coupon_without_the_customers_currency_is_coupon_currency_unsupported(
    operator_client, customer_client, card, monthly
):
    created(operator_client, discount={"type": "amount", "amounts_off": [{"amount": "300", "currency": "JPY"}]})

    body = error(checkout(customer_client, monthly, card, "SPRING25"), 400)

    assert body["code"] == "coupon_currency_unsupported"


def test_a_coupon_used_up_by_the_customer_is_coupon_already_redeemed_at_checkout(
    operator_client, customer_client, card, monthly, yearly
):
    created(operator_client, max_redemptions_per_customer=1)
    assert checkout(customer_client, monthly, card, "SPRING25").status_code == 201

    body = error(checkout(customer_client, yearly, card, "SPRING25"), 400)

    assert body["code"] == "coupon_already_redeemed"


def test_an_account_coupon_is_redeemed_once_per_customer(operator_client, customer_client):
    created(operator_client, redemption_target="account")
    assert customer_client.post("/api/v1/me/coupons/redeem", {"code": "SPRING25"}, format="json").status_code == 201

    response = customer_client.post("/api/v1/me/coupons/redeem", {"code": "SPRING25"}, format="json")

    assert error(response, 400)["code"] == "coupon_already_redeemed"
