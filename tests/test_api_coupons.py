"""The coupon routes of API.md over HTTP: campaigns (operator), validate and redeem (customer), and
coupons at checkout and on renewals through the sandbox gateway."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import client_for_customer
from payments.services import gateway_account_create
from payments.tests.factories import CustomerFactory, sandbox_card
from plans.billing import run_billing
from plans.models import Subscription
from plans.tests.factories import PlanFactory


@pytest.fixture
def sandbox(db):
    return gateway_account_create(provider="sandbox", display_name="Sandbox")


@pytest.fixture
def monthly(db):
    return PlanFactory(
        code="monthly",
        name="Monthly",
        interval="month",
        prices=[{"amount": "10.00", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}],
    )


@pytest.fixture
def yearly(db):
    return PlanFactory(code="yearly", name="Yearly", interval="year", prices=[{"amount": "100.00", "currency": "EUR"}])


@pytest.fixture
def card(customer, sandbox):
    return sandbox_card(customer=customer, account=sandbox)


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def create(operator_client, **overrides):
    body = {
        "name": "Quarter off",
        "kind": "single_code",
        "code": "spring25",
        "discount": {"type": "percent", "percent_off": "25"},
        **overrides,
    }
    return operator_client.post("/api/v1/coupons", body, format="json")


def created(operator_client, **overrides) -> dict:
    response = create(operator_client, **overrides)
    assert response.status_code == 201, response.content
    return response.json()


def checkout(client, plan, card=None, code=None):
    body = {"plan": plan.id, "coupon_code": code}
    if card is not None:
        body["payment_method"] = card.id
    return client.post("/api/v1/me/checkout", body, format="json")


def validate(client, code, plan):
    response = client.post("/api/v1/me/coupons/validate", {"code": code, "plan": plan.id}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def subscriber(sandbox):
    """Another customer with a card, and their app's client."""
    other = CustomerFactory()
    return client_for_customer(other), sandbox_card(customer=other, account=sandbox)


# --- Creating campaigns -------------------------------------------------------------------------


def test_a_single_code_percent_coupon_is_created_as_the_coupon_object(operator_client):
    response = create(operator_client)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("cpn_")
    assert body == {
        "id": body["id"],
        "name": "Quarter off",
        "description": "",
        "kind": "single_code",
        "code": "SPRING25",
        "code_template": None,
        "discount": {"type": "percent", "percent_off": "25"},
        "duration": "once",
        "duration_cycles": None,
        "applies_to_plans": [],
        "redemption_target": "subscription",
        "max_redemptions": None,
        "max_redemptions_per_customer": 1,
        "redeem_by": None,
        "state": "active",
        "times_redeemed": 0,
    }


def test_an_amount_coupon_holds_one_amount_per_currency_in_minor_units(operator_client):
    body = created(
        operator_client,
        discount={
            "type": "amount",
            "amounts_off": [{"amount": "500", "currency": "JPY"}, {"amount": "5", "currency": "EUR"}],
        },
        duration="repeating",
        duration_cycles=3,
    )

    assert body["discount"] == {
        "type": "amount",
        "amounts_off": [{"amount": "5.00", "currency": "EUR"}, {"amount": "500", "currency": "JPY"}],
    }
    assert (body["duration"], body["duration_cycles"]) == ("repeating", 3)


def test_a_free_trial_coupon_records_its_trial_length(operator_client):
    body = created(
        operator_client, code="TRIAL30", discount={"type": "free_trial", "trial": {"length": 30, "unit": "day"}}
    )

    assert body["discount"] == {"type": "free_trial", "trial": {"length": 30, "unit": "day"}}
    assert body["duration"] == "once"


def test_a_bulk_campaign_is_created_from_a_code_template(operator_client, monthly):
    redeem_by = timezone.now() + timedelta(days=30)
    body = created(
        operator_client,
        kind="bulk",
        code=None,
        code_template="spring-********",
        applies_to_plans=[monthly.id],
        max_redemptions=1000,
        redeem_by=iso(redeem_by),
    )

    assert body["kind"] == "bulk"
    assert body["code"] is None
    assert body["code_template"] == "SPRING-********"
    assert body["applies_to_plans"] == [monthly.id]
    assert body["max_redemptions"] == 1000
    assert body["redeem_by"] == iso(redeem_by)


def test_a_bulk_campaign_needs_at_least_six_random_positions_in_its_template(operator_client):
    response = create(operator_client, kind="bulk", code=None, code_template="SPRING-***")

    assert error(response, 400)["param"] == "code_template"


@pytest.mark.parametrize("percent", ["0", 0, "101", 50.5, "NaN", "abc"])
def test_a_percent_outside_zero_to_a_hundred_or_given_as_a_float_is_refused(operator_client, percent):
    response = create(operator_client, discount={"type": "percent", "percent_off": percent})

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("parameter_invalid", "discount.percent_off")


def test_a_repeating_coupon_without_cycles_is_refused(operator_client):
    response = create(operator_client, duration="repeating")

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("parameter_invalid", "duration_cycles")


def test_an_amount_coupon_without_amounts_is_refused(operator_client):
    response = create(operator_client, discount={"type": "amount"})

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("parameter_missing", "discount.amounts_off")


def test_an_amount_given_as_a_float_is_refused(operator_client):
    response = create(operator_client, discount={"type": "amount", "amounts_off": [{"amount": 5.5, "currency": "EUR"}]})

    assert error(response, 400)["code"] == "amount_invalid"


def test_an_unknown_plan_in_applies_to_plans_is_refused(operator_client, monthly):
    response = create(operator_client, applies_to_plans=[monthly.id, "pln_nope"])

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("resource_missing", "applies_to_plans")


def test_a_code_that_exists_in_another_case_is_taken(operator_client):
    created(operator_client, code="SPRING25")

    response = create(operator_client, name="Again", code="Spring25")

    body = error(response, 422)
    assert (body["code"], body["param"]) == ("coupon_code_taken", "code")


def test_a_malformed_date_is_refused(operator_client):
    response = create(operator_client, redeem_by="next tuesday")

    body = error(response, 400)
    assert (body["code"], body["param"]) == ("parameter_invalid", "redeem_by")


# --- Reading and editing ------------------------------------------------------------------------


def test_campaigns_are_listed_newest_first(operator_client):
    first = created(operator_client, code="FIRST")
    second = created(operator_client, code="SECOND")

    body = operator_client.get("/api/v1/coupons").json()

    assert [c["id"] for c in body["results"]] == [second["id"], first["id"]]
    assert body["next"] is None


def test_a_campaign_is_read_by_id_and_an_unknown_one_is_404(operator_client):
    coupon = created(operator_client)

    assert operator_client.get(f"/api/v1/coupons/{coupon['id']}").json() == coupon
    assert error(operator_client.get("/api/v1/coupons/cpn_nope"), 404)["code"] == "resource_missing"


def test_name_description_limits_date_and_plans_can_be_edited(operator_client, monthly):
    coupon = created(operator_client)
    redeem_by = timezone.now() + timedelta(days=7)

    response = operator_client.patch(
        f"/api/v1/coupons/{coupon['id']}",
        {
            "name": "Spring sale",
            "description": "Posters in town",
            "redeem_by": iso(redeem_by),
            "max_redemptions": 50,
            "applies_to_plans": [monthly.id],
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Spring sale"
    assert body["description"] == "Posters in town"
    assert body["redeem_by"] == iso(redeem_by)
    assert body["max_redemptions"] == 50
    assert body["applies_to_plans"] == [monthly.id]
    assert body["discount"] == coupon["discount"]


def test_the_discount_terms_can_change_before_any_redemption(operator_client):
    coupon = created(operator_client)

    response = operator_client.patch(
        f"/api/v1/coupons/{coupon['id']}",
        {"discount": {"type": "percent", "percent_off": "40"}, "duration": "forever"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["discount"] == {"type": "percent", "percent_off": "40"}
    assert response.json()["duration"] == "forever"


def test_the_discount_terms_are_locked_after_a_redemption(operator_client, customer_client, card, monthly):
    coupon = created(operator_client)
    assert checkout(customer_client, monthly, card, "SPRING25").status_code == 201

    response = operator_client.patch(
        f"/api/v1/coupons/{coupon['id']}", {"discount": {"type": "percent", "percent_off": "90"}}, format="json"
    )

    assert error(response, 422)["code"] == "coupon_terms_locked"
    renamed = operator_client.patch(f"/api/v1/coupons/{coupon['id']}", {"name": "Spring"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["discount"]["percent_off"] == "25"


def test_lowering_max_redemptions_to_the_redemptions_made_maxes_the_campaign_out(
    operator_client, customer_client, card, monthly
):
    coupon = created(operator_client, max_redemptions=5)
    assert checkout(customer_client, monthly, card, "SPRING25").status_code == 201

    response = operator_client.patch(f"/api/v1/coupons/{coupon['id']}", {"max_redemptions": 1}, format="json")

    assert response.status_code == 200
    assert response.json()["state"] == "maxed_out"


# --- Expire and restore -------------------------------------------------------------------------


def test_an_expired_campaign_is_refused_at_checkout(operator_client, customer_client, card, monthly):
    coupon = created(operator_client)

    expired = operator_client.post(f"/api/v1/coupons/{coupon['id']}/expire")

    assert expired.status_code == 200
    assert expired.json()["state"] == "expired"
    body = error(checkout(customer_client, monthly, card, "SPRING25"), 400)
    assert (body["code"], body["param"]) == ("coupon_expired", "coupon_code")
    assert not Subscription.objects.exists()


def test_a_campaign_expired_by_hand_is_restored(operator_client, customer_client, card, monthly):
    coupon = created(operator_client)
    operator_client.post(f"/api/v1/coupons/{coupon['id']}/expire")

    restored = operator_client.post(f"/api/v1/coupons/{coupon['id']}/restore", {}, format="json")

    assert restored.status_code == 200, restored.content
    assert restored.json()["state"] == "active"
    assert checkout(customer_client, monthly, card, "SPRING25").status_code == 201


def test_a_campaign_past_its_redeem_by_is_restored_only_with_a_new_one(operator_client):
    coupon = created(operator_client)
    passed = timezone.now() - timedelta(minutes=1)
    operator_client.patch(f"/api/v1/coupons/{coupon['id']}", {"redeem_by": iso(passed)}, format="json")
    assert operator_client.get(f"/api/v1/coupons/{coupon['id']}").json()["state"] == "expired"

    refused = operator_client.post(f"/api/v1/coupons/{coupon['id']}/restore", {}, format="json")
    new_date = timezone.now() + timedelta(days=10)
    restored = operator_client.post(
        f"/api/v1/coupons/{coupon['id']}/restore", {"redeem_by": iso(new_date)}, format="json"
    )

    assert error(refused, 400) == {
        "type": "invalid_request_error",
        "code": "parameter_missing",
        "message": "This campaign's redeem_by has passed: give a new one.",
        "param": "redeem_by",
    }
    assert restored.status_code == 200, restored.content
    assert (restored.json()["state"], restored.json()["redeem_by"]) == ("active", iso(new_date))


def test_restoring_with_a_redeem_by_in_the_past_is_refused(operator_client):
    coupon = created(operator_client)
    operator_client.post(f"/api/v1/coupons/{coupon['id']}/expire")

    response = operator_client.post(
        f"/api/v1/coupons/{coupon['id']}/restore", {"redeem_by": iso(timezone.now() - timedelta(days=1))}, format="json"
    )

    assert error(response, 400)["param"] == "redeem_by"


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


# --- Credentials --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/coupons"),
        ("post", "/api/v1/coupons"),
        ("get", "/api/v1/coupons/{id}"),
        ("patch", "/api/v1/coupons/{id}"),
        ("post", "/api/v1/coupons/{id}/expire"),
        ("post", "/api/v1/coupons/{id}/restore"),
    ],
)
def test_a_customer_token_on_the_operators_coupon_routes_is_403(operator_client, customer_client, method, path):
    coupon = created(operator_client)

    response = getattr(customer_client, method)(path.format(id=coupon["id"]), {}, format="json")

    assert error(response, 403)["type"] == "permission_error"


@pytest.mark.parametrize("path", ["/api/v1/me/coupons/validate", "/api/v1/me/coupons/redeem"])
def test_an_api_key_on_the_customers_coupon_routes_is_403(operator_client, path):
    assert error(operator_client.post(path, {}, format="json"), 403)["type"] == "permission_error"


def test_the_coupon_routes_need_a_credential(anon_client):
    assert error(anon_client.get("/api/v1/coupons"), 401)["type"] == "authentication_error"


def test_the_coupon_routes_are_in_the_schema(client, db):
    schema = client.get("/api/schema/").content

    for path in (b"/api/v1/coupons/{coupon_id}/restore", b"/api/v1/me/coupons/validate", b"/api/v1/me/coupons/redeem"):
        assert path in schema
