"""Guessing codes over HTTP is slow: unknown codes at validate, redeem and checkout count per customer
and per client address; past a limit every code attempt (a valid one's too) answers 429
rate_limited with Retry-After until the window ends. Known codes, and checkouts without a code, do
not count."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from conftest import client_for_customer
from payments.tests.factories import CustomerFactory
from plans.models import Subscription
from tests.coupon_fixtures import fixture_card, fixture_monthly  # noqa: F401 (fixtures)
from tests.coupon_helpers import checkout, created, error

# 20 minutes into an hour: an hourly window has 40 minutes left.
NOW = datetime(2027, 3, 1, 10, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def limits(settings):
    settings.COUPON_FAILED_ATTEMPTS_PER_CUSTOMER = "3/hour"
    settings.COUPON_FAILED_ATTEMPTS_PER_ADDRESS = "5/hour"


@pytest.fixture(autouse=True)
def clock():
    """Frozen: no test straddles the end of a window by chance."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def validate(client, code, plan, address="127.0.0.1"):
    return client.post(
        "/api/v1/me/coupons/validate", {"code": code, "plan": plan.id}, format="json", REMOTE_ADDR=address
    )


def redeem(client, code, address="127.0.0.1"):
    return client.post("/api/v1/me/coupons/redeem", {"code": code}, format="json", REMOTE_ADDR=address)


def miss(client, plan, n=1, address="127.0.0.1"):
    for index in range(n):
        response = validate(client, f"GUESS-{index:04d}", plan, address)
        assert response.status_code == 200, response.content
        assert response.json()["reason"] == "coupon_not_found"


def limited(response, retry_after: int | None = None) -> None:
    body = error(response, 429)
    assert (body["type"], body["code"], body["param"]) == ("rate_limit_error", "rate_limited", None)
    assert "Too many wrong coupon codes" in body["message"]
    if retry_after is not None:
        assert response["Retry-After"] == str(retry_after)


def test_past_the_customers_limit_validate_answers_429_with_retry_after_even_for_a_valid_code(
    operator_client, customer_client, monthly, clock
):
    created(operator_client)
    miss(customer_client, monthly, 3)

    limited(validate(customer_client, "SPRING25", monthly), retry_after=40 * 60)
    limited(validate(customer_client, "NOPE-NOPE", monthly))


def test_the_limit_ends_with_its_window(operator_client, customer_client, monthly, clock):
    created(operator_client)
    miss(customer_client, monthly, 3)
    limited(validate(customer_client, "SPRING25", monthly))

    clock.shift(timedelta(minutes=40))

    assert validate(customer_client, "SPRING25", monthly).json()["valid"] is True


def test_successful_attempts_do_not_count(operator_client, customer_client, monthly):
    created(operator_client)
    miss(customer_client, monthly, 2)
    for _ in range(10):
        assert validate(customer_client, "spring25", monthly).json()["valid"] is True

    miss(customer_client, monthly, 1)  # the third failure still answers

    limited(validate(customer_client, "SPRING25", monthly))


def test_a_known_code_that_cannot_be_used_does_not_count(operator_client, customer_client, monthly):
    coupon = created(operator_client)
    operator_client.post(f"/api/v1/coupons/{coupon['id']}/expire")

    for _ in range(6):
        assert validate(customer_client, "SPRING25", monthly).json()["reason"] == "coupon_expired"


def test_a_malformed_code_counts_as_unknown(customer_client, monthly):
    for code in ("x", "!!!!", "a" * 80):
        assert validate(customer_client, code, monthly).json()["reason"] == "coupon_not_found"

    limited(validate(customer_client, "SPRING25", monthly))


def test_unknown_codes_at_redeem_count_and_then_redeem_answers_429(operator_client, customer_client):
    created(operator_client, redemption_target="account")
    for index in range(3):
        assert error(redeem(customer_client, f"GUESS-{index}"), 400)["code"] == "coupon_not_found"

    limited(redeem(customer_client, "SPRING25"))
    assert customer_client.get("/api/v1/me").status_code == 200  # other routes are not limited


def test_unknown_codes_at_checkout_count_and_then_checkout_with_a_code_answers_429(
    operator_client, customer_client, card, monthly
):
    created(operator_client)
    for index in range(3):
        assert error(checkout(customer_client, monthly, card, f"GUESS-{index}"), 400)["code"] == "coupon_not_found"

    limited(checkout(customer_client, monthly, card, "SPRING25"))
    assert not Subscription.objects.exists()
    assert checkout(customer_client, monthly, card).status_code == 201  # no code, no limit


def test_failures_at_validate_redeem_and_checkout_share_the_customers_count(customer_client, card, monthly):
    miss(customer_client, monthly, 1)
    assert error(redeem(customer_client, "GUESS-R"), 400)["code"] == "coupon_not_found"
    assert error(checkout(customer_client, monthly, card, "GUESS-C"), 400)["code"] == "coupon_not_found"

    limited(validate(customer_client, "GUESS-V", monthly))


def test_another_customer_is_not_limited_by_the_first_ones_failures(operator_client, customer_client, monthly):
    created(operator_client)
    miss(customer_client, monthly, 3)
    other = client_for_customer(CustomerFactory())

    assert validate(other, "SPRING25", monthly, address="10.0.0.2").json()["valid"] is True


def test_one_address_is_limited_across_customers_at_its_own_higher_limit(operator_client, monthly, clock):
    created(operator_client)
    for _ in range(5):  # five customers, one failure each, from one address
        miss(client_for_customer(CustomerFactory()), monthly, 1, address="198.51.100.7")
    newcomer = client_for_customer(CustomerFactory())

    limited(validate(newcomer, "SPRING25", monthly, address="198.51.100.7"), retry_after=40 * 60)
    assert validate(newcomer, "SPRING25", monthly, address="198.51.100.8").json()["valid"] is True


def test_a_429_from_the_address_limit_does_not_count_against_the_customer(operator_client, monthly):
    created(operator_client)
    for _ in range(5):
        miss(client_for_customer(CustomerFactory()), monthly, 1, address="198.51.100.7")
    newcomer = client_for_customer(CustomerFactory())
    for _ in range(5):
        limited(validate(newcomer, "GUESS-X", monthly, address="198.51.100.7"))

    assert validate(newcomer, "SPRING25", monthly, address="198.51.100.9").json()["valid"] is True


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_counted(operator_client, monthly, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    created(operator_client)

    def via_proxy(client, code, client_address):
        return client.post(
            "/api/v1/me/coupons/validate",
            {"code": code, "plan": monthly.id},
            format="json",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=client_address,
        )

    for _ in range(5):
        response = via_proxy(client_for_customer(CustomerFactory()), "GUESS-P", "203.0.113.5")
        assert response.json()["reason"] == "coupon_not_found"
    newcomer = client_for_customer(CustomerFactory())

    limited(via_proxy(newcomer, "SPRING25", "203.0.113.5"))
    assert via_proxy(newcomer, "SPRING25", "203.0.113.6").json()["valid"] is True  # same proxy, another client


def test_an_empty_setting_turns_a_limit_off(operator_client, customer_client, monthly, settings):
    settings.COUPON_FAILED_ATTEMPTS_PER_CUSTOMER = ""
    settings.COUPON_FAILED_ATTEMPTS_PER_ADDRESS = ""
    created(operator_client)
    miss(customer_client, monthly, 8)

    assert validate(customer_client, "SPRING25", monthly).json()["valid"] is True


def test_the_default_limits_are_twenty_per_customer_and_a_hundred_per_address_an_hour():
    from mediamanager import settings as production

    assert production.COUPON_FAILED_ATTEMPTS_PER_CUSTOMER == "20/hour"
    assert production.COUPON_FAILED_ATTEMPTS_PER_ADDRESS == "100/hour"


def test_the_429_is_in_the_schema_of_the_three_routes(client, db):
    schema = client.get("/api/schema/?format=json").json()

    for path in ("/api/v1/me/coupons/validate", "/api/v1/me/coupons/redeem", "/api/v1/me/checkout"):
        answer = schema["paths"][path]["post"]["responses"]["429"]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ApiError"}
        assert "Retry-After" in answer["headers"]
