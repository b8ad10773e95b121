"""One driver per gateway for the shared end-to-end scenarios (tests/test_gateway_scenarios.py):
what the app's card form does with that gateway, what the cardholder does on the bank's page,
and what the gateway tells us afterwards (webhooks, notifications). The scenarios only speak of
card behaviours; each driver maps them to its gateway's test cards.

Behaviours: `ok`; `sca_always` (the bank authenticates every payment: 3-D Secure on session,
refused off session with `authentication_required`); `sca_first` (3-D Secure on the first
payment); `charges_fail` (the card is kept, its charges are refused)."""

from urllib.parse import urlsplit

from rest_framework.test import APIClient

from payments.models import Refund
from tests.adyen_helpers import deliver
from tests.stripe_helpers import intent_event, send_webhook, stripe_event, stripe_js_tokenize
from tests.subscription_helpers import answer_challenge, local_path


class Driver:
    name = ""
    charges_fail_code = ""  # the decline code the `charges_fail` card's renewals fail with

    def __init__(self, billing, account):
        self.billing = billing
        self.account = account

    def token(self, behaviour: str) -> str:
        raise NotImplementedError

    def attach(self, app, behaviour: str = "ok") -> dict:
        gateway = app.get("/api/v1/me/gateway")
        assert gateway.status_code == 200, gateway.content
        assert gateway.json()["id"] == self.account.id  # routed to this gateway
        response = app.post(
            "/api/v1/me/payment-methods", {"gateway": self.account.id, "token": self.token(behaviour)}, format="json"
        )
        assert response.status_code == 201, response.content
        return response.json()

    def authenticate(self, url: str, *, approve: bool = True):
        """The cardholder on the bank's 3-D Secure page at `url`, then back where it sends them;
        returns our last answer to their browser (a redirect to the app or the pay-now page)."""
        raise NotImplementedError

    def deliver(self) -> None:
        """What the gateway tells us by itself (webhooks, notifications) since last asked."""

    def refunds_settle(self) -> None:
        """The bank ends every refund still pending, and the gateway tells us."""

    def expect_pending_refunds(self) -> None:
        """The next refunds stay pending at the gateway until `refunds_settle` (Adyen's always do)."""

    def charges(self) -> list[dict]:
        """Non-zero charges we sent, oldest first: {"minor": int, "off_session": bool, "key": str}."""
        raise NotImplementedError

    def _committed(self, send):
        with self.billing.capture(execute=True):
            return send()


class SandboxDriver(Driver):
    name = "sandbox"
    charges_fail_code = "card_declined"
    CARDS = {
        "ok": "4242424242424242",
        "sca_always": "4000002760003184",
        "sca_first": "4000002500003155",
        "charges_fail": "4000000000000341",
    }

    def token(self, behaviour):
        response = APIClient().post(
            "/sandbox/v1/tokens",
            {
                "publishable_key": self.account.credentials["publishable_key"],
                "card": {"number": self.CARDS[behaviour], "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()["token"]

    def authenticate(self, url, *, approve=True):
        back = answer_challenge(self.billing.browser, url, "approve" if approve else "fail")
        assert back.status_code == 302, back.content
        return back

    def charges(self):
        from payments.gateways.sandbox.models import SandboxCharge

        return [
            {"minor": int(c.amount * 100), "off_session": c.off_session, "key": c.idempotency_key}
            for c in SandboxCharge.objects.filter(amount__gt=0).order_by("created_at")
        ]


class StripeDriver(Driver):
    name = "stripe"
    charges_fail_code = "card_declined"
    CARDS = {
        "ok": "4242424242424242",
        "sca_always": "4000002760003184",
        "sca_first": "4000002500003155",
        "charges_fail": "4000000000000341",
    }

    def __init__(self, billing, account, double):
        super().__init__(billing, account)
        self.double = double
        self.sent_events = 0

    def token(self, behaviour):
        return stripe_js_tokenize(self.double, self.CARDS[behaviour])

    def _event(self, event: dict):
        response = self._committed(lambda: send_webhook(event, self.account))
        assert response.status_code == 200, response.content

    def authenticate(self, url, *, approve=True):
        if "/3ds-setup/" in url:  # a SetupIntent's page: Stripe sends the cardholder on to the app
            self.double.authenticate_setup(urlsplit(url).path.rsplit("/", 1)[1], approve=approve)
            return None
        intent_id = urlsplit(url).path.rsplit("/", 1)[1]
        return_url = self.double.intents.get(intent_id, {}).get("return_url")
        self.double.authenticate(intent_id, approve=approve)
        self.sent_events += 1
        type_ = "payment_intent.succeeded" if approve else "payment_intent.payment_failed"
        self._event(intent_event(self.double, intent_id, type_, f"evt_auth_{self.sent_events}"))
        if not return_url:
            return None
        # Stripe sends the cardholder back to the return URL as given; the pay-now page asks again.
        from payments.models import Payment

        payment = Payment.objects.filter(gateway_reference=intent_id).first()
        parts = urlsplit(return_url)
        if parts.path.startswith("/billing/pay/") and payment is not None:
            return self.billing.browser.get(f"{parts.path}?payment={payment.id}")
        return None

    def expect_pending_refunds(self):
        self.double.refund_status_next.extend(["pending"] * 5)

    def refunds_settle(self):
        for refund in Refund.objects.filter(status=Refund.Status.PENDING).exclude(gateway_reference=""):
            settled = self.double.refund_settle(refund.gateway_reference, "succeeded")
            self.sent_events += 1
            self._event(stripe_event("refund.updated", settled, f"evt_refund_{self.sent_events}"))

    def charges(self):
        return [
            {
                "minor": int(params["amount"]),
                "off_session": str(params.get("off_session", "")).lower() == "true",
                "key": params.get("metadata[idempotency_key]", ""),
            }
            for verb, path, params in self.double.requests
            if verb == "POST" and path == "/v1/payment_intents"
        ]


class AdyenDriver(Driver):
    name = "adyen"
    charges_fail_code = "insufficient_funds"
    CARDS = {
        "ok": ("4111111145551142", "J. Smith"),
        "sca_always": ("4000002760003184", "J. Smith"),
        "sca_first": ("4917610000000000", "J. Smith"),
        "charges_fail": ("4111111145551142", "NOT_ENOUGH_BALANCE"),  # a verification passes, charges do not
    }

    def __init__(self, billing, account, double):
        super().__init__(billing, account)
        self.double = double

    def token(self, behaviour):
        number, holder = self.CARDS[behaviour]
        return self.double.encrypt(number, holder=holder, exp_month=12, exp_year=2034)

    def authenticate(self, url, *, approve=True):
        location = self.double.challenge(url, approve=approve)
        assert "/gateways/return/" in location
        back = self.billing.browser.get(local_path(location))
        assert back.status_code in (200, 302), back.content
        self.deliver()
        return back

    def deliver(self):
        self._committed(lambda: deliver(self.double, self.account))

    def refunds_settle(self):
        self.double.refunds_settle(success=True)
        self.deliver()

    def charges(self):
        return [
            {
                "minor": body["amount"]["value"],
                "off_session": body.get("shopperInteraction") == "ContAuth",
                "key": body["reference"],
            }
            for body in self.double.sent("/payments")
            if body["amount"]["value"] > 0
        ]
