"""The cardholder's way back from a gateway's 3-D Secure page to us, for gateways that need us to
finish the payment afterwards (Adyen's `/payments/details`), and on to the app's return URL."""

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.urls import reverse

RETURN_SALT = "payments.gateways.return"
RETURN_MAX_AGE = 7 * 24 * 3600


def return_url_for(*, account_id: str, idempotency_key: str, return_url: str) -> str:
    """Our return page for one charge or card setup. The token is signed, so it cannot be pointed
    at another payment or another address."""
    token = signing.dumps({"a": account_id, "k": idempotency_key, "r": return_url}, salt=RETURN_SALT, compress=True)
    return settings.SITE_URL + reverse("gateway-return", args=[token])


def return_token_read(token: str) -> dict | None:
    try:
        return signing.loads(token, salt=RETURN_SALT, max_age=RETURN_MAX_AGE)
    except signing.BadSignature:
        return None


def url_with_payment(url: str, payment_id: str | None) -> str:
    """The app's return URL with `payment=<id>` added, so the page it lands on knows which."""
    if not payment_id:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"payment": payment_id})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
