"""Steps of the tests against the Stripe double (payments/tests/stripe_double.py): what Stripe.js
does in the app, our API's card and checkout routes, and signed webhooks as Stripe sends them. The
double and a Stripe gateway account on it are fixtures in tests/conftest.py."""

import json
import time
from datetime import timedelta

import stripe
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import Payment, Refund

SECRET_KEY = "sk_test_51TestDoubleKey0000000000000000000000000000"
WEBHOOK_SECRET = "whsec_test_double_secret"


def stripe_js_tokenize(double, number: str) -> str:
    """What Stripe.js does in the app: the card goes to Stripe, the app gets a PaymentMethod id."""
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": double.url})
    card = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    return client.v1.payment_methods.create(params={"type": "card", "card": card}).id


def attach(client, account, token):
    return client.post("/api/v1/me/payment-methods", {"gateway": account.id, "token": token}, format="json")


def checkout(client, plan, method_id, **extra):
    return client.post("/api/v1/me/checkout", {"plan": plan.id, "payment_method": method_id, **extra}, format="json")


def send_webhook(event: dict, account, *, secret=WEBHOOK_SECRET, timestamp=None):
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return APIClient().generic(
        "POST", f"/webhooks/gateways/{account.id}", body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def intent_event(double, intent_id: str, type_: str, event_id: str) -> dict:
    intent = stripe.StripeClient(SECRET_KEY, base_addresses={"api": double.url}).v1.payment_intents.retrieve(intent_id)
    return stripe_event(type_, json.loads(str(intent)), event_id)


def stripe_event(type_: str, obj: dict, event_id: str) -> dict:
    """An event as Stripe sends it, about `obj` (a refund, a payout, ...)."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-08-26.dahlia",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        "data": {"object": obj},
    }


SDK_TRIES = 3  # the first request and the SDK's two retries, all under one idempotency key


def paid(client, account, double, plan) -> Payment:
    method = attach(client, account, stripe_js_tokenize(double, "4242424242424242")).json()
    response = checkout(client, plan, method["id"])
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(pk=response.json()["payment"]["id"])
    assert payment.status == Payment.Status.SUCCEEDED
    return payment


def refund_creates(double) -> list[dict]:
    return [params for verb, path, params in double.requests if verb == "POST" and path == "/v1/refunds"]


def sent_long_ago(refund: Refund, **delta) -> None:
    """As if the refund had been sent (and last touched) that long ago."""
    then = timezone.now() - timedelta(**delta)
    Refund.objects.filter(pk=refund.pk).update(requested_at=then, updated_at=then)
