"""Customer tokens are never stored in clear and can be revoked (API.md "Customer tokens, added")."""

import pytest
from rest_framework.test import APIClient

from integrations.models import IdempotencyKey
from payments.models import CustomerToken
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_mint_under_an_idempotency_key_replays_the_token_but_stores_it_encrypted(operator_client):
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.id}/tokens"

    first = operator_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="mint-1")
    replay = operator_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="mint-1")

    raw = first.json()["token"]
    assert replay.content == first.content and replay["Idempotent-Replayed"] == "true"
    stored = bytes(IdempotencyKey.objects.get(key="mint-1").body)
    assert raw.encode() not in stored and b"token" not in stored
    assert CustomerToken.objects.count() == 1
    assert raw not in str(list(CustomerToken.objects.values()))


def test_revoking_a_customers_tokens_makes_them_answer_401_and_leaves_others_working(operator_client):
    customer, other = CustomerFactory(), CustomerFactory()
    mint = lambda who: operator_client.post(f"/api/v1/customers/{who.id}/tokens", {}, format="json").json()["token"]  # noqa: E731
    tokens, others = [mint(customer), mint(customer)], mint(other)

    response = operator_client.delete(f"/api/v1/customers/{customer.id}/tokens")

    assert response.status_code == 204
    for raw in tokens:
        refused = _bearer(raw).get("/api/v1/me")
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert _bearer(others).get("/api/v1/me").status_code == 200


def test_revoking_tokens_of_an_unknown_customer_is_404(operator_client):
    response = operator_client.delete("/api/v1/customers/cus_nope/tokens")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"


def test_a_customer_token_cannot_revoke_tokens(customer_client, customer):
    assert customer_client.delete(f"/api/v1/customers/{customer.id}/tokens").status_code == 403
