"""Passkeys as the second factor, at django-otp-webauthn's endpoints: a passkey signs the server's
challenge and the session is verified; a forged assertion (another key's signature), a replayed
one, an unknown credential and malformed bodies are refused with a clear JSON error, never a 500;
only signed-in staff reach the ceremonies, and nobody past the password only adds a passkey to an
enrolled account. The authenticator here is a P-256 key of our own (cryptography), signing what a
browser would send."""

import hashlib
import json
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from conftest import audit_text

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"
BEGIN = "/admin/sign-in/passkey/authentication/begin/"
COMPLETE = "/admin/sign-in/passkey/authentication/complete/"


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    """A passkey: a P-256 key pair whose public half the server holds as a COSE key."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)

    def register(self, user) -> WebAuthnCredential:
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        return WebAuthnCredential.objects.create(
            user=user,
            name="Passkey 1",
            credential_id=self.credential_id,
            public_key=cose,
            sign_count=0,
            aaguid="00000000-0000-0000-0000-000000000000",
            confirmed=True,
        )

    def assertion(self, options: dict, *, origin="http://localhost:8000", sign_count=1, signer=None) -> dict:
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": options["challenge"], "origin": origin, "crossOrigin": False}
        ).encode()
        authenticator_data = hashlib.sha256(options["rpId"].encode()).digest() + b"\x01" + sign_count.to_bytes(4, "big")
        signed = authenticator_data + hashlib.sha256(client_data).digest()
        signature = (signer or self.key).sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": _b64(self.credential_id),
            "rawId": _b64(self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": _b64(authenticator_data),
                "clientDataJSON": _b64(client_data),
                "signature": _b64(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", "ops@example.com", PASSWORD, is_staff=True, is_superuser=True)


@pytest.fixture
def passkey(staff):
    authenticator = Authenticator()
    authenticator.register(staff)
    return authenticator


@pytest.fixture
def past_password(staff):
    client = Client()
    assert client.post("/admin/login/", {"username": "ops", "password": PASSWORD}).status_code == 302
    return client


def _begin(client) -> dict:
    response = client.post(BEGIN)
    assert response.status_code == 200, response.content
    return response.json()


def _complete(client, body, next_url="/admin/"):
    return client.post(f"{COMPLETE}?next={next_url}", json.dumps(body), content_type="application/json")


def test_a_passkey_verifies_the_session_and_says_where_to_go(passkey, past_password):
    options = _begin(past_password)
    assert options["rpId"] == "localhost"
    assert [_unb64(c["id"]) for c in options["allowCredentials"]] == [passkey.credential_id]

    response = _complete(past_password, passkey.assertion(options), next_url="/admin/payments/customer/")

    assert response.status_code == 200
    assert response.json()["redirect_url"] == "/admin/payments/customer/"
    assert past_password.get("/admin/").status_code == 200
    assert "staff.second_factor_verified outcome=succeeded" in audit_text() and "reason=passkey" in audit_text()


def test_the_second_step_offers_the_passkey(passkey, past_password):
    page = past_password.get("/admin/sign-in/second-step/").content.decode()

    assert 'id="passkey-verification-button"' in page
    assert "/admin/sign-in/passkey/authentication/begin/" in page


def test_a_forged_assertion_signed_by_another_key_is_refused(passkey, past_password):
    options = _begin(past_password)
    forged = passkey.assertion(options, signer=ec.generate_private_key(ec.SECP256R1()))

    response = _complete(past_password, forged)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_authentication_response"
    assert past_password.get("/admin/")["Location"].startswith("/admin/login/")
    assert "staff.second_factor_refused outcome=refused" in audit_text()
    assert "reason=passkey_invalid_authentication_response" in audit_text()


def test_an_assertion_for_another_origin_is_refused(passkey, past_password):
    options = _begin(past_password)

    response = _complete(past_password, passkey.assertion(options, origin="https://evil.example"))

    assert response.status_code == 422
    assert past_password.get("/admin/")["Location"].startswith("/admin/login/")


def test_a_replayed_assertion_is_refused_the_challenge_works_once(passkey, past_password, staff):
    options = _begin(past_password)
    assertion = passkey.assertion(options)
    assert _complete(past_password, assertion).status_code == 200
    other = Client()
    other.post("/admin/login/", {"username": "ops", "password": PASSWORD})

    same_session = _complete(past_password, assertion)
    _begin(other)
    elsewhere = _complete(other, assertion)  # a new challenge: the old signature does not cover it

    assert same_session.status_code == 400 and same_session.json()["code"] == "invalid_state"
    assert elsewhere.status_code == 422
    assert other.get("/admin/")["Location"].startswith("/admin/login/")


def test_another_users_passkey_is_refused(passkey, django_user_model):
    django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)
    client = Client()
    client.post("/admin/login/", {"username": "other", "password": PASSWORD})
    options = {**_begin(client), "rpId": "localhost"}

    response = _complete(client, passkey.assertion(options))

    assert response.status_code == 403 and response.json()["code"] == "credential_user_mismatch"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        '{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}',
        '{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"authenticatorData": "AAAA", '
        '"clientDataJSON": "AAAA", "signature": "AAAA"}}',
        "[1, 2]",
    ],
)
def test_malformed_assertions_are_a_clear_4xx_never_a_500(passkey, past_password, body):
    _begin(past_password)

    response = past_password.post(COMPLETE, body, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
    assert past_password.get("/admin/")["Location"].startswith("/admin/login/")


def test_only_signed_in_staff_reach_the_passkey_ceremonies(django_user_model):
    django_user_model.objects.create_user("viewer", password=PASSWORD)
    member = Client()
    member.force_login(django_user_model.objects.get(username="viewer"))

    for client in (Client(), member):
        for path in (BEGIN, "/admin/sign-in/passkey/registration/begin/"):
            response = client.post(path)
            assert response.status_code == 403, path
            assert response.json()["code"] == "not_authenticated"


def test_past_the_password_only_no_passkey_is_added_to_an_enrolled_account(staff, past_password):
    TOTPDevice.objects.create(user=staff, name="Authenticator app", confirmed=True)

    response = past_password.post("/admin/sign-in/passkey/registration/begin/")

    assert response.status_code == 403 and response.json()["code"] == "user_not_verified"


def test_a_disabled_users_passkey_is_refused(passkey, past_password, staff):
    options = _begin(past_password)
    staff.is_active = False
    staff.save()

    response = _complete(past_password, passkey.assertion(options))

    assert response.status_code == 403
