"""Steps shared by the subscription end-to-end tests: HTTP clients for a customer's app, an
operator and a browser; cards tokenized with the sandbox and attached over HTTP; and the billing
clock, which time_machine and `run_billing --as-of` move together.

Every request and every billing run is followed by its commit (the test's on-commit callbacks
run), as in production: emails go out and work deferred to the commit happens."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from payments.services import customer_token_create

START = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
RETURN_URL = "https://app.example.com/done"

OK_CARD = "4242424242424242"
SCA_FIRST_PAYMENT_CARD = "4000002500003155"
SCA_ALWAYS_CARD = "4000002760003184"
DECLINED_CARD = "4000000000000002"
NO_FUNDS_CARD = "4000000000009995"


class Client(APIClient):
    """An HTTP client whose every request commits. A customer's client mints a new token when the
    clock has moved past the last one, as an app signs in again."""

    def __init__(self, capture, *, customer=None, api_key: str | None = None):
        super().__init__()
        self.capture = capture
        self.customer = customer
        self._token_expires_at = None
        if api_key:
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")

    def request(self, **kwargs):
        if self.customer is not None and (self._token_expires_at is None or self._token_expires_at <= timezone.now()):
            raw, token = customer_token_create(customer=self.customer)
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
            self._token_expires_at = token.expires_at
        with self.capture(execute=True):
            return super().request(**kwargs)


class Billing:
    """One test's world: the clock frozen at START and moved only by `travel` and `run`."""

    def __init__(self, *, traveller, capture, api_key: str):
        self.traveller = traveller
        self.capture = capture
        self.operator = Client(capture, api_key=api_key)
        self.browser = Client(capture)

    def app(self, customer) -> Client:
        return Client(self.capture, customer=customer)

    def travel(self, when: datetime) -> None:
        assert when >= timezone.now(), "time only moves forward here"
        self.traveller.move_to(when)

    def run(self, when: datetime) -> str:
        """`manage.py run_billing --as-of WHEN` with the wall clock at WHEN too; returns its summary."""
        self.travel(when)
        out = StringIO()
        with self.capture(execute=True):
            call_command("run_billing", as_of=when.isoformat(), stdout=out)
        return out.getvalue().strip()


# --- Customer steps over HTTP -------------------------------------------------------------------


def attach_card(app: Client, number: str = OK_CARD) -> dict:
    """Tokenize a card with the sandbox (as the app's card form does) and attach it."""
    gateway = app.get("/api/v1/me/gateway")
    assert gateway.status_code == 200, gateway.content
    gateway = gateway.json()
    token = APIClient().post(
        "/sandbox/v1/tokens",
        {
            "publishable_key": gateway["client"]["publishable_key"],
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        },
        format="json",
    )
    assert token.status_code == 201, token.content
    response = app.post(
        "/api/v1/me/payment-methods", {"gateway": gateway["id"], "token": token.json()["token"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def make_default(app: Client, card: dict) -> dict:
    response = app.post(f"/api/v1/me/payment-methods/{card['id']}/default")
    assert response.status_code == 200, response.content
    return response.json()


def checkout(app: Client, plan, card: dict | None = None, **extra):
    body = {"plan": plan.id, **extra}
    if card is not None:
        body["payment_method"] = card["id"]
    return app.post("/api/v1/me/checkout", body, format="json")


def subscribe(app: Client, plan, number: str = OK_CARD) -> dict:
    """Attach a card and check out a plan whose first payment goes through; returns the subscription."""
    response = checkout(app, plan, attach_card(app, number))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subscription"]["status"] in ("active", "trialing"), body
    return body["subscription"]


def subscription(app: Client, subscription_id: str) -> dict:
    response = app.get(f"/api/v1/me/subscriptions/{subscription_id}")
    assert response.status_code == 200, response.content
    return response.json()


def entitlements(app: Client) -> dict:
    response = app.get("/api/v1/me/entitlements")
    assert response.status_code == 200, response.content
    return response.json()


def entitled(app: Client) -> bool:
    return entitlements(app)["entitled"]


def invoices(app: Client) -> list[dict]:
    """The customer's invoices, oldest first."""
    return list(reversed(app.get("/api/v1/me/invoices").json()["results"]))


def payments(app: Client) -> list[dict]:
    """The customer's payments, oldest first."""
    return list(reversed(app.get("/api/v1/me/payments").json()["results"]))


def error_of(response) -> tuple:
    error = response.json()["error"]
    return response.status_code, error["type"], error["code"], error["param"]


def amount(money: dict) -> Decimal:
    return Decimal(money["amount"])


def local_path(url: str) -> str:
    """The path (and query) of one of our own absolute URLs, for the test client."""
    assert url.startswith(settings.SITE_URL) or url.startswith("http://testserver"), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def answer_challenge(browser: Client, url: str, action: str = "approve"):
    """The cardholder answers the sandbox's 3-D Secure page at `next_action.url`."""
    page = browser.get(local_path(url))
    assert page.status_code == 200, page.content
    return browser.post(local_path(url), {"action": action})


# --- What the operator and the customer's mailbox see ------------------------------------------


def events(billing: Billing, type_: str, customer_id: str | None = None) -> list[dict]:
    """Events of one type from the operator's event log, oldest first."""
    params = {"type": type_}
    if customer_id:
        params["customer"] = customer_id
    response = billing.operator.get("/api/v1/events", params)
    assert response.status_code == 200, response.content
    return list(reversed(response.json()["results"]))


def mails(subject_part: str, to: str | None = None) -> list:
    """Sent emails whose subject contains `subject_part` (to `to`, if given); each checked to
    carry an HTML alternative besides its text body."""
    found = [m for m in mail.outbox if subject_part in m.subject and (to is None or m.to == [to])]
    for message in found:
        assert message.body.strip(), message.subject
        assert [mimetype for _, mimetype in message.alternatives] == ["text/html"], message.subject
    return found


def html_of(message) -> str:
    return next(content for content, mimetype in message.alternatives if mimetype == "text/html")


PAY_LINK_RE = re.compile(r"https?://[^\s\"'<>]+/billing/pay/[^\s\"'<>]+")
