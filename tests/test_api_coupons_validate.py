"""POST /api/v1/me/coupons/validate over HTTP: the preview of the first invoice with a valid coupon
(percent, amount in the customer's currency, free trial), and the reason a coupon is not valid
(unknown, expired, maxed out, already redeemed, not applicable, currency unsupported)."""

from conftest import client_for_customer
from payments.tests.factories import CustomerFactory, sandbox_card
from tests.coupon_fixtures import fixture_card, fixture_monthly, fixture_yearly  # noqa: F401 (fixtures)
from tests.coupon_helpers import checkout, created, error


def validate(client, code, plan):
    response = client.post("/api/v1/me/coupons/validate", {"code": code, "plan": plan.id}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def subscriber(sandbox):
    """Another customer with a card, and their app's client."""
    other = CustomerFactory()
    return client_for_customer(other), sandbox_card(customer=other, account=sandbox)


# --- Validate -----------------------------------------------------------------------------------


def test_validate_previews_the_first_invoice_with_the_discount(operator_client, customer_client, monthly):
    created(operator_client)

    body = validate(customer_client, "spring25", monthly)

    assert body == {
        "valid": True,
        "reason": None,
        "discount": {"type": "percent", "percent_off": "25"},
        "preview": {
            "subtotal": {"amount": "10.00", "currency": "EUR"},
            "discount": {"amount": "2.50", "currency": "EUR"},
            "tax": {"amount": "0.00", "currency": "EUR"},  # no registration: nothing taxed
            "total": {"amount": "7.50", "currency": "EUR"},
        },
    }


def test_validate_previews_an_amount_coupon_in_the_customers_currency(operator_client, monthly):
    created(
        operator_client,
        discount={
            "type": "amount",
            "amounts_off": [{"amount": "3.00", "currency": "EUR"}, {"amount": "300", "currency": "JPY"}],
        },
    )
    japanese = client_for_customer(CustomerFactory(country="JP", currency="JPY"))

    body = validate(japanese, "SPRING25", monthly)

    assert body["preview"] == {
        "subtotal": {"amount": "1000", "currency": "JPY"},
        "discount": {"amount": "300", "currency": "JPY"},
        "tax": {"amount": "0", "currency": "JPY"},
        "total": {"amount": "700", "currency": "JPY"},
    }


def test_validate_of_a_free_trial_coupon_previews_nothing_to_pay_and_the_trial(
    operator_client, customer_client, monthly
):
    created(operator_client, code="TRIAL14", discount={"type": "free_trial", "trial": {"length": 2, "unit": "week"}})

    body = validate(customer_client, "TRIAL14", monthly)

    assert body["valid"] is True
    assert body["preview"] == {
        "subtotal": {"amount": "10.00", "currency": "EUR"},
        "discount": {"amount": "10.00", "currency": "EUR"},
        "tax": {"amount": "0.00", "currency": "EUR"},
        "total": {"amount": "0.00", "currency": "EUR"},
        "trial": {"length": 2, "unit": "week"},
    }


def test_validate_of_an_unknown_code_is_coupon_not_found(customer_client, monthly):
    body = validate(customer_client, "NOPE-NOPE", monthly)

    assert body == {"valid": False, "reason": "coupon_not_found", "discount": None, "preview": None}


def test_validate_of_an_expired_campaign_is_coupon_expired(operator_client, customer_client, monthly):
    coupon = created(operator_client)
    operator_client.post(f"/api/v1/coupons/{coupon['id']}/expire")

    assert validate(customer_client, "SPRING25", monthly)["reason"] == "coupon_expired"


def test_validate_of_a_used_up_campaign_is_coupon_maxed_out(operator_client, customer_client, sandbox, monthly):
    created(operator_client, max_redemptions=1)
    other_client, other_card = subscriber(sandbox)
    assert checkout(other_client, monthly, other_card, "SPRING25").status_code == 201

    assert validate(customer_client, "SPRING25", monthly)["reason"] == "coupon_maxed_out"


def test_validate_of_a_coupon_the_customer_used_is_coupon_already_redeemed(
    operator_client, customer_client, card, monthly, yearly
):
    created(operator_client)
    assert checkout(customer_client, monthly, card, "SPRING25").status_code == 201

    assert validate(customer_client, "SPRING25", yearly)["reason"] == "coupon_already_redeemed"


def test_validate_for_a_plan_the_coupon_does_not_cover_is_coupon_not_applicable(
    operator_client, customer_client, monthly, yearly
):
    created(operator_client, applies_to_plans=[yearly.id])

    assert validate(customer_client, "SPRING25", monthly)["reason"] == "coupon_not_applicable"
    assert validate(customer_client, "SPRING25", yearly)["valid"] is True


def test_validate_of_an_account_coupon_is_coupon_not_applicable(operator_client, customer_client, monthly):
    created(operator_client, redemption_target="account")

    assert validate(customer_client, "SPRING25", monthly)["reason"] == "coupon_not_applicable"


def test_validate_of_an_amount_coupon_without_the_customers_currency_is_coupon_currency_unsupported(
    operator_client, customer_client, monthly
):
    created(operator_client, discount={"type": "amount", "amounts_off": [{"amount": "300", "currency": "JPY"}]})

    assert validate(customer_client, "SPRING25", monthly)["reason"] == "coupon_currency_unsupported"


def test_validate_without_a_code_is_a_400(customer_client, monthly):
    response = customer_client.post("/api/v1/me/coupons/validate", {"plan": monthly.id}, format="json")

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("parameter_missing", "code")


def test_validate_for_an_unknown_plan_is_a_400(customer_client):
    response = customer_client.post("/api/v1/me/coupons/validate", {"code": "X", "plan": "pln_nope"}, format="json")

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("resource_missing", "plan")
