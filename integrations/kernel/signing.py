"""Tokens this server signs for others to check offline (entitlement tokens, API.md "Entitlement
tokens"): EdDSA (Ed25519) JWTs with `kid` in their header, verified against the public keys at
`/.well-known/jwks.json`.

Keys (integrations.kernel.models.SigningKey) rotate with overlap, so a verifier never meets a token
it cannot check:
- a new key is published at once but signs only PUBLISH_AHEAD later, so verifiers that cache the
  JWKS for up to that long already have it;
- the key it replaces stays published until every token it signed has expired (TOKEN_LIFETIME
  after the new key took over, plus a margin for clocks), then leaves the JWKS.
The first key is made on first use and signs at once. Two rotations at once make two keys: both are
published and the later one signs, so nothing needs a lock.

Each process keeps the keys in memory and reads them again every RELOAD seconds (a rotation is
picked up well inside PUBLISH_AHEAD)."""

import base64
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import transaction
from django.utils import timezone

from integrations.kernel.audit import audit_record
from integrations.kernel.ids import new_id
from integrations.kernel.models import SigningKey

TOKEN_LIFETIME = timedelta(minutes=5)
PUBLISH_AHEAD = timedelta(minutes=10)
CLOCK_MARGIN = timedelta(minutes=1)
RELOAD = 30.0  # seconds

_lock = threading.Lock()
_loaded: tuple[float, list["_Key"]] | None = None


@dataclass(frozen=True)
class _Key:
    kid: str
    signs_from: datetime
    public_x: str
    private: Ed25519PrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key_create(*, signs_from: datetime | None = None) -> SigningKey:
    """A new key pair, published now, signing from `signs_from` (default: now)."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes_raw()
    raw_public = private.public_key().public_bytes_raw()
    key = SigningKey.objects.create(
        kid=new_id("sig"),
        private={"d": _b64(raw_private)},
        public_x=_b64(raw_public),
        signs_from=signs_from or timezone.now(),
    )
    keys_forget()
    return key


def signing_key_rotate() -> SigningKey:
    """The next key: published now, signing PUBLISH_AHEAD from now (at once if there is no key yet).
    Recorded in the audit log."""
    has_keys = SigningKey.objects.exists()
    with transaction.atomic():
        key = signing_key_create(signs_from=timezone.now() + PUBLISH_AHEAD if has_keys else None)
        audit_record(
            action="signing_key.rotated",
            object_type="signing_key",
            object_id=key.kid,
            changes={"signs_from": [None, key.signs_from.isoformat()]},
        )
    return key


def keys_forget() -> None:
    """Read the keys again on next use (after a rotation in this process; tests)."""
    global _loaded
    with _lock:
        _loaded = None


def _keys() -> list[_Key]:
    global _loaded
    now = time.monotonic()
    loaded = _loaded
    if loaded is not None and now - loaded[0] < RELOAD:
        return loaded[1]
    keys = [
        _Key(
            kid=row.kid,
            signs_from=row.signs_from,
            public_x=row.public_x,
            private=Ed25519PrivateKey.from_private_bytes(_unb64(row.private["d"])),
        )
        for row in SigningKey.objects.order_by("-signs_from", "-created_at")
    ]
    with _lock:
        _loaded = (now, keys)
    return keys


def _signer(at: datetime) -> _Key:
    keys = _keys()
    for key in keys:  # newest first
        if key.signs_from <= at:
            return key
    signing_key_create()  # the first key, on first use
    return _keys()[0]


def published_keys(at: datetime | None = None) -> list[_Key]:
    """The keys a verifier needs at `at`: those not signing yet, the one signing, and those it
    replaced until their last tokens have expired."""
    at = at or timezone.now()
    keys = _keys()
    published, took_over = [], None  # when the next newer key started signing
    for key in keys:  # newest first
        if took_over is None or took_over + TOKEN_LIFETIME + CLOCK_MARGIN > at:
            published.append(key)
        if key.signs_from <= at:
            took_over = key.signs_from if took_over is None or key.signs_from < took_over else took_over
    return published


def jwks(at: datetime | None = None) -> dict:
    """The JSON Web Key Set of the published keys (RFC 8037 OKP keys)."""
    return {
        "keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": key.kid, "x": key.public_x, "alg": "EdDSA", "use": "sig"}
            for key in published_keys(at)
        ]
    }


def token_sign(claims: dict, *, at: datetime | None = None) -> str:
    """A JWT of `claims` with `iat` and `exp` (TOKEN_LIFETIME), signed by the current key."""
    at = at or timezone.now()
    key = _signer(at)
    issued = int(at.timestamp())
    payload = {**claims, "iat": issued, "exp": issued + int(TOKEN_LIFETIME.total_seconds())}
    return jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})
