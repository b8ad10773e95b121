"""Steps shared by the coupon route tests (tests/test_api_coupons_*.py): create a campaign as the
operator, check out with a coupon code as the customer, and read an error body."""


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


def error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]
