"""The operator's coupon campaign routes over HTTP (API.md): create a campaign (single code, bulk
from a template; percent, amount or free trial) and the invalid ones refused, read and list,
edit (discount terms locked after a redemption), expire and restore."""

from datetime import timedelta

import pytest
from django.utils import timezone

from plans.models import Subscription
from tests.coupon_fixtures import fixture_card, fixture_monthly  # noqa: F401 (the card and monthly fixtures)
from tests.coupon_helpers import checkout, create, created, error, iso

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


def test_a_bulk_campaign_needs_at_least_eight_random_positions_in_its_template(operator_client):
    for template in ("SPRING-***", "SPRING-******", "SPRING-*******"):
        response = create(operator_client, kind="bulk", code=None, code_template=template)

        assert (error(response, 400)["code"], error(response, 400)["param"]) == ("parameter_invalid", "code_template")


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
