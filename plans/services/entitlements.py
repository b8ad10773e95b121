"""Entitlement tokens (API.md "Entitlement tokens"): what `GET /me/entitlements` says, signed, for
license and CDN servers to check offline against `/.well-known/jwks.json`."""

from integrations.kernel.signing import token_sign


def entitlement_token(*, customer_id: str, entitlements: list[dict]) -> str:
    """A JWT valid 5 minutes: `sub` the customer, `ent` the entitlements as the API renders them."""
    return token_sign({"sub": customer_id, "ent": entitlements})
