"""The credentials of the coupon routes over HTTP: a customer token on the operator's routes and an
API key on the customer's answer 403, no credential answers 401; and the routes are in the schema."""

import pytest

from tests.coupon_helpers import created, error

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
