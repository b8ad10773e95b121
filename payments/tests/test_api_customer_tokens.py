"""POST /api/v1/customers/{id}/tokens, and which credential reaches which route."""

from datetime import datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import client_for_customer
from integrations.kernel.api_keys import api_key_revoke
from integrations.kernel.hashing import secret_hash
from integrations.kernel.models import ApiKey
from payments.models import Customer, CustomerToken
from payments.services import customer_token_create
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _tokens_url(customer) -> str:
    return f"/api/v1/customers/{customer.id}/tokens"


def _bearer_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _error(response) -> tuple[str, str]:
    assert set(response.json()) == {"error"}
    return response.json()["error"]["type"], response.json()["error"]["code"]


# --- minting


def test_mint_token_answers_201_with_token_expiry_and_customer(operator_client, customer):
    response = operator_client.post(_tokens_url(customer), {}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "expires_at", "customer"}
    assert body["token"].startswith("mmc_")
    assert body["customer"] == customer.id


def test_mint_token_without_body_answers_201(operator_client, customer):
    response = operator_client.post(_tokens_url(customer))

    assert response.status_code == 201
    assert response.json()["customer"] == customer.id


def test_mint_token_expires_about_one_hour_ahead_by_default(operator_client, customer):
    before = timezone.now()
    body = operator_client.post(_tokens_url(customer), {}, format="json").json()
    after = timezone.now()

    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(hours=1) <= expires_at <= after + timedelta(hours=1)
    assert body["expires_at"].endswith("Z")


@override_settings(CUSTOMER_TOKEN_TTL_SECONDS=600)
def test_mint_token_default_lifetime_follows_setting(operator_client, customer):
    before = timezone.now()
    body = operator_client.post(_tokens_url(customer), {}, format="json").json()

    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(seconds=600) <= expires_at <= timezone.now() + timedelta(seconds=600)


def test_mint_token_honours_ttl_seconds(operator_client, customer):
    before = timezone.now()
    response = operator_client.post(_tokens_url(customer), {"ttl_seconds": 120}, format="json")
    after = timezone.now()

    assert response.status_code == 201
    expires_at = datetime.fromisoformat(response.json()["expires_at"])
    assert before + timedelta(seconds=120) <= expires_at <= after + timedelta(seconds=120)


def test_mint_token_stored_expiry_matches_the_answer(operator_client, customer):
    body = operator_client.post(_tokens_url(customer), {"ttl_seconds": 7200}, format="json").json()

    token = CustomerToken.objects.get(customer=customer)
    assert token.expires_at == datetime.fromisoformat(body["expires_at"])


@pytest.mark.parametrize("ttl", [60, 30 * 86400])
def test_mint_token_accepts_ttl_at_the_bounds(operator_client, customer, ttl):
    response = operator_client.post(_tokens_url(customer), {"ttl_seconds": ttl}, format="json")

    assert response.status_code == 201


@pytest.mark.parametrize("ttl", [59, 0, -1, 30 * 86400 + 1])
def test_mint_token_refuses_ttl_out_of_range_with_400(operator_client, customer, ttl):
    response = operator_client.post(_tokens_url(customer), {"ttl_seconds": ttl}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["param"] == "ttl_seconds"
    assert not CustomerToken.objects.exists()


def test_mint_token_refuses_non_integer_ttl_with_400_parameter_invalid(operator_client, customer):
    response = operator_client.post(_tokens_url(customer), {"ttl_seconds": "soon"}, format="json")

    assert response.status_code == 400
    assert _error(response) == ("invalid_request_error", "parameter_invalid")
    assert response.json()["error"]["param"] == "ttl_seconds"


def test_mint_token_for_unknown_customer_answers_404(operator_client):
    response = operator_client.post("/api/v1/customers/cus_doesnotexist/tokens", {}, format="json")

    assert response.status_code == 404
    assert _error(response) == ("invalid_request_error", "resource_missing")
    assert not CustomerToken.objects.exists()


def test_mint_token_stores_only_the_hash(operator_client, customer):
    raw = operator_client.post(_tokens_url(customer), {}, format="json").json()["token"]

    token = CustomerToken.objects.get(customer=customer)
    assert token.token_hash != raw
    assert raw not in token.token_hash
    assert token.token_hash == secret_hash(raw)


def test_mint_token_twice_gives_two_different_tokens(operator_client, customer):
    first = operator_client.post(_tokens_url(customer), {}, format="json").json()["token"]
    second = operator_client.post(_tokens_url(customer), {}, format="json").json()["token"]

    assert first != second
    assert CustomerToken.objects.filter(customer=customer).count() == 2


def test_mint_token_with_customer_token_answers_403(customer_client, customer):
    response = customer_client.post(_tokens_url(customer), {}, format="json")

    assert response.status_code == 403
    assert _error(response)[0] == "permission_error"
    assert CustomerToken.objects.filter(customer=customer).count() == 1  # the fixture's own


def test_mint_token_without_credential_answers_401(anon_client, customer):
    response = anon_client.post(_tokens_url(customer), {}, format="json")

    assert response.status_code == 401
    assert _error(response)[0] == "authentication_error"
    assert not CustomerToken.objects.exists()


# --- what a customer token reaches


def test_minted_token_reaches_me_as_that_customer(operator_client, customer):
    CustomerFactory()  # another customer that must not be answered
    raw = operator_client.post(_tokens_url(customer), {}, format="json").json()["token"]

    response = _bearer_client(raw).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["id"] == customer.id
    assert response.json()["external_id"] == customer.external_id
    assert response.json()["email"] == customer.email


def test_two_customers_tokens_each_reach_their_own_me(db):
    first, second = CustomerFactory(), CustomerFactory()

    assert client_for_customer(first).get("/api/v1/me").json()["id"] == first.id
    assert client_for_customer(second).get("/api/v1/me").json()["id"] == second.id


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/plans", "/api/v1/events"])
def test_customer_token_cannot_read_operator_routes(customer_client, path):
    response = customer_client.get(path)

    assert response.status_code == 403
    assert _error(response) == ("permission_error", "operator_key_required")


def test_customer_token_cannot_create_a_customer(customer_client):
    body = {"external_id": "sneaky", "email": "sneaky@example.com", "country": "DE"}

    response = customer_client.post("/api/v1/customers", body, format="json")

    assert response.status_code == 403
    assert _error(response) == ("permission_error", "operator_key_required")
    assert not Customer.objects.filter(external_id="sneaky").exists()


def test_customer_token_cannot_read_a_customer_by_id(customer_client, customer):
    response = customer_client.get(f"/api/v1/customers/{customer.id}")

    assert response.status_code == 403
    assert _error(response)[0] == "permission_error"


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/me/plans"])
def test_api_key_cannot_reach_me_routes(operator_client, path):
    response = operator_client.get(path)

    assert response.status_code == 403
    assert _error(response) == ("permission_error", "customer_token_required")


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/me/plans", "/api/v1/customers", "/api/v1/events"])
def test_no_credential_answers_401_authentication_error(anon_client, path):
    response = anon_client.get(path)

    assert response.status_code == 401
    assert _error(response) == ("authentication_error", "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("raw", ["mmc_garbage", "mmk_garbage", "something-else"])
def test_unknown_credential_answers_401(db, raw):
    response = _bearer_client(raw).get("/api/v1/me")

    assert response.status_code == 401
    assert _error(response) == ("authentication_error", "invalid_credentials")


def test_non_bearer_authorization_header_answers_401(db, api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key}")

    response = client.get("/api/v1/customers")

    assert response.status_code == 401
    assert _error(response)[0] == "authentication_error"


def test_expired_customer_token_answers_401(customer):
    raw, token = customer_token_create(customer=customer)
    CustomerToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _bearer_client(raw).get("/api/v1/me")

    assert response.status_code == 401
    assert _error(response) == ("authentication_error", "invalid_credentials")


def test_customer_token_works_until_it_expires(customer):
    raw, token = customer_token_create(customer=customer)
    CustomerToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(seconds=30))

    assert _bearer_client(raw).get("/api/v1/me").status_code == 200


def test_token_of_deleted_customer_answers_401(customer):
    raw, _ = customer_token_create(customer=customer)
    customer.delete()

    response = _bearer_client(raw).get("/api/v1/me")

    assert response.status_code == 401


def test_revoked_api_key_answers_401(operator_client, api_key):
    assert operator_client.get("/api/v1/customers").status_code == 200
    api_key_revoke(api_key=ApiKey.objects.get(key_hash=secret_hash(api_key)))

    response = operator_client.get("/api/v1/customers")

    assert response.status_code == 401
    assert _error(response) == ("authentication_error", "invalid_credentials")


def test_revoked_api_key_cannot_mint_tokens(operator_client, api_key, customer):
    api_key_revoke(api_key=ApiKey.objects.get(key_hash=secret_hash(api_key)))

    response = operator_client.post(_tokens_url(customer), {}, format="json")

    assert response.status_code == 401
    assert not CustomerToken.objects.exists()


def test_api_key_last_used_at_is_set_on_use(operator_client, api_key):
    key = ApiKey.objects.get(key_hash=secret_hash(api_key))
    assert key.last_used_at is None
    before = timezone.now()

    operator_client.get("/api/v1/customers")

    key.refresh_from_db()
    assert key.last_used_at is not None
    assert before <= key.last_used_at <= timezone.now()


def test_api_key_last_used_at_moves_after_a_stale_use(operator_client, api_key):
    stale = timezone.now() - timedelta(hours=1)
    ApiKey.objects.filter(key_hash=secret_hash(api_key)).update(last_used_at=stale)

    operator_client.get("/api/v1/customers")

    assert ApiKey.objects.get(key_hash=secret_hash(api_key)).last_used_at > stale


def test_api_key_is_stored_only_as_its_hash(api_key):
    key = ApiKey.objects.get(key_hash=secret_hash(api_key))

    assert key.key_hash != api_key
    assert api_key.startswith(key.prefix)
    assert len(key.prefix) < len(api_key)
