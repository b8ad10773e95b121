"""Signed entitlement tokens (API.md "Entitlement tokens"): `GET /me/entitlements` carries a JWT that a
license or CDN server verifies offline with the keys of `/.well-known/jwks.json`, here with joserfc (a
JWT library other than the PyJWT that signs); keys rotate with overlap (a new key published before
it signs, the old one until its tokens have expired); private keys are encrypted at rest."""

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from joserfc import jwk, jwt
from joserfc.errors import BadSignatureError
from rest_framework.test import APIClient

from integrations.kernel import signing
from integrations.kernel.models import SigningKey
from plans.tests.factories import PlanFactory
from tests.test_e2e_one_off_checkout import attach_card

pytestmark = [
    pytest.mark.django_db,
    # API.md names the algorithm "EdDSA"; RFC 9864 (2025) prefers the fully specified "Ed25519", and
    # joserfc warns while still verifying it.
    pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning"),
]


@pytest.fixture
def event_pass(db):
    return PlanFactory(
        code="final", kind="one_off", interval=None, access_days=2, prices=[{"amount": "4.99", "currency": "EUR"}]
    )


@pytest.fixture(autouse=True)
def fresh_keys():
    signing.keys_forget()
    yield
    signing.keys_forget()


def published() -> dict:
    response = APIClient().get("/.well-known/jwks.json")
    assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=300"
    return response.json()


def verified(token: str, jwks: dict):
    """What an offline verifier does: pick the key by `kid` from the JWKS, check the signature."""
    return jwt.decode(token, jwk.KeySet.import_key_set(jwks), algorithms=["EdDSA"])


def test_the_entitlements_carry_a_token_a_license_server_verifies_offline(
    customer_client, customer, sandbox, event_pass
):
    card = attach_card(customer_client)
    bought = customer_client.post(
        "/api/v1/me/checkout", {"plan": event_pass.id, "payment_method": card["id"]}, format="json"
    )
    assert bought.status_code == 201, bought.content

    body = customer_client.get("/api/v1/me/entitlements").json()
    token = verified(body["token"], published())

    assert token.header["alg"] == "EdDSA" and token.header["kid"] == SigningKey.objects.get().kid
    claims = token.claims
    assert claims["sub"] == customer.id
    assert claims["ent"] == body["entitlements"] and claims["ent"][0]["plan"] == event_pass.id
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - timezone.now().timestamp()) < 60


def test_a_customer_without_entitlements_gets_a_token_that_says_so(customer_client, customer):
    body = customer_client.get("/api/v1/me/entitlements").json()
    assert body["entitled"] is False
    assert verified(body["token"], published()).claims["ent"] == []


def test_a_token_changed_by_anyone_fails_verification(customer_client):
    token = customer_client.get("/api/v1/me/entitlements").json()["token"]
    header, _payload, signature = token.split(".")
    claims = {"sub": "cus_someone_else", "ent": [{"plan": "pln_premium"}], "iat": 0, "exp": 2**40}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        verified(f"{header}.{forged}.{signature}", published())


def test_rotation_publishes_the_new_key_before_it_signs_and_the_old_one_until_its_tokens_expire():
    now = timezone.now()
    first = signing.signing_key_create(signs_from=now - timedelta(days=30))
    second = signing.signing_key_rotate()
    assert second.signs_from == pytest.approx(timezone.now() + signing.PUBLISH_AHEAD, abs=timedelta(seconds=5))

    def kids(at):
        return [key["kid"] for key in signing.jwks(at)["keys"]]

    def signer(at):
        return jwt.decode(
            signing.token_sign({"sub": "cus_x"}, at=at),
            jwk.KeySet.import_key_set(signing.jwks(at)),
            algorithms=["EdDSA"],
        ).header["kid"]

    assert kids(now) == [second.kid, first.kid] and signer(now) == first.kid  # published, not signing yet
    took_over = second.signs_from
    assert signer(took_over) == second.kid
    last_old_token = took_over - timedelta(seconds=1)
    assert first.kid in kids(last_old_token + signing.TOKEN_LIFETIME)  # its last tokens still verify
    assert kids(took_over + signing.TOKEN_LIFETIME + signing.CLOCK_MARGIN + timedelta(seconds=1)) == [second.kid]


def test_the_private_key_is_encrypted_at_rest():
    key = signing.signing_key_create()
    with connection.cursor() as cursor:
        cursor.execute("SELECT private FROM integrations_signingkey WHERE kid = %s", [key.kid])
        stored = cursor.fetchone()[0]
    assert key.private["d"] not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert SigningKey.objects.get(pk=key.pk).private == key.private


def test_an_administrator_rotates_in_the_admin_and_staff_from_the_command_line_both_audited():
    from io import StringIO

    from django.core.management import call_command
    from django.test import Client

    from conftest import audit_text, sign_in_verified, staff_in_role

    first = signing.signing_key_create()
    admin_user = sign_in_verified(Client(), staff_in_role("administrator"))
    assert admin_user.post("/admin/integrations/signingkey/add/", {}).status_code == 302
    support = sign_in_verified(Client(), staff_in_role("support"))
    assert support.post("/admin/integrations/signingkey/add/", {}).status_code == 403
    out = StringIO()
    call_command("rotate_signing_key", stdout=out)

    keys = list(SigningKey.objects.order_by("created_at"))
    assert len(keys) == 3 and keys[0] == first and out.getvalue().startswith(keys[2].kid)
    assert audit_text().count("signing_key.rotated") == 2
    signing._loaded = (signing.time.monotonic(), [])  # this process's copy is stale, as another worker's can be
    page = admin_user.get("/admin/integrations/signingkey/")
    assert page.status_code == 200 and first.private["d"].encode() not in page.content
    assert page.content.count(b"published, signs soon") == 2 and b"retired" not in page.content


def test_the_lean_answer_is_the_serializers_and_every_refusal_the_apis(
    customer_client, customer, sandbox, event_pass, operator_client
):
    from plans.api.serializers import EntitlementsSerializer
    from plans.selectors import entitlement_list

    card = attach_card(customer_client)
    customer_client.post("/api/v1/me/checkout", {"plan": event_pass.id, "payment_method": card["id"]}, format="json")
    body = customer_client.get("/api/v1/me/entitlements").json()
    listed = entitlement_list(customer=customer)
    rendered = EntitlementsSerializer({"entitled": bool(listed), "entitlements": listed}).data
    assert {key: body[key] for key in ("entitled", "entitlements")} == rendered and body["entitled"] is True

    nobody = APIClient().get("/api/v1/me/entitlements")
    assert nobody.status_code == 401 and nobody.json()["error"]["type"] == "authentication_error"
    bad = APIClient(HTTP_AUTHORIZATION="Bearer mmc_not-a-token").get("/api/v1/me/entitlements")
    assert bad.status_code == 401
    operator = operator_client.get("/api/v1/me/entitlements")
    assert operator.status_code == 403 and operator.json()["error"]["code"] == "customer_token_required"
    assert customer_client.post("/api/v1/me/entitlements", {}, format="json").status_code == 405


def test_a_customer_over_the_request_budget_gets_429_on_the_lean_path_too(customer_client, monkeypatch):
    from django.core.cache import cache

    from integrations.kernel.api.throttling import CredentialRateThrottle

    monkeypatch.setattr(CredentialRateThrottle, "THROTTLE_RATES", {"credential": "3/min"})
    cache.clear()
    answers = [customer_client.get("/api/v1/me/entitlements") for _ in range(5)]
    cache.clear()

    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited" and int(answers[-1]["Retry-After"]) > 0


def test_the_jwks_answers_only_get():
    assert APIClient(enforce_csrf_checks=True).post("/.well-known/jwks.json", {}).status_code == 405
