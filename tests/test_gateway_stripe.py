"""The Stripe gateway against a Stripe-compatible server on loopback (localstripe behind a proxy
that adds what it lacks), and signed webhooks through dj-stripe."""

import json
import time

import pytest
import stripe
from djstripe.models import Event as StripeEvent
from rest_framework.test import APIClient

from payments.models import GatewayWebhookEvent, Payment, Payout, Refund
from payments.services import invoice_pay, payments_reconcile
from plans.models import Access
from plans.tests.factories import PlanFactory
from tests.stripe_helpers import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    attach,
    checkout,
    intent_event,
    send_webhook,
    stripe_js_tokenize,
)


@pytest.fixture
def event_pass(db):
    return PlanFactory(
        code="pass", kind="one_off", interval=None, access_days=2, prices=[{"amount": "9.99", "currency": "EUR"}]
    )


def test_gateway_route_exposes_the_publishable_key(buyer, stripe_account):
    _, client = buyer
    body = client.get("/api/v1/me/gateway").json()
    assert body == {"id": stripe_account.id, "kind": "stripe", "client": {"publishable_key": "pk_test_double"}}


def test_attach_keeps_brand_last4_expiry_and_fingerprint_only(buyer, stripe_account, double):
    customer, client = buyer
    response = attach(client, stripe_account, stripe_js_tokenize(double, "4242424242424242"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["brand"], body["last4"], body["exp_month"], body["exp_year"]) == ("visa", "4242", 12, 2034)
    method = customer.payment_methods.get()
    assert method.fingerprint and method.gateway_reference.startswith("pm_")
    created = [params for method_, path, params in double.requests if path == "/v1/customers"]
    assert created and created[0]["metadata[customer]"] == customer.id


def test_a_card_declined_on_attach_answers_402(buyer, stripe_account, double):
    _, client = buyer
    response = attach(client, stripe_account, stripe_js_tokenize(double, "4000000000000002"))
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "card_error"
    assert response.json()["error"]["code"] == "card_declined"


def test_on_session_checkout_sets_the_card_up_for_renewals(buyer, stripe_account, double, event_pass):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()
    response = checkout(client, event_pass, method["id"], return_url="https://app.example.com/back")
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "succeeded"
    sent = [params for verb, path, params in double.requests if path == "/v1/payment_intents" and verb == "POST"]
    assert sent[0]["setup_future_usage"] == "off_session"
    assert sent[0]["return_url"] == "https://app.example.com/back"
    assert sent[0]["amount"] == "999" and sent[0]["currency"] == "eur"
    assert "off_session" not in sent[0]
    assert client.get("/api/v1/me/entitlements").json()["entitled"] is True


def test_off_session_charge_is_a_merchant_initiated_transaction(buyer, stripe_account, double):
    from moneyed import Money

    from payments.services import LineSpec, invoice_create, invoice_finalize, payment_method_attach

    customer, _ = buyer
    method = payment_method_attach(
        customer=customer, gateway_account_id=stripe_account.id, token=stripe_js_tokenize(double, "4242424242424242")
    )
    invoice = invoice_finalize(
        invoice=invoice_create(customer=customer, currency="EUR", lines=[LineSpec("Renewal", Money("9.99", "EUR"))])
    )
    payment = invoice_pay(invoice=invoice, payment_method=method, off_session=True)
    assert payment.status == Payment.Status.SUCCEEDED
    sent = [params for verb, path, params in double.requests if path == "/v1/payment_intents" and verb == "POST"]
    assert sent[-1]["off_session"] == "True" or sent[-1]["off_session"] == "true"
    assert "setup_future_usage" not in sent[-1]
    assert sent[-1]["metadata[idempotency_key]"] == f"{payment.id}-1"


def test_a_charge_that_fails_after_attaching_answers_402_and_grants_nothing(buyer, stripe_account, double, event_pass):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4000000000000341")).json()
    response = checkout(client, event_pass, method["id"])
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    assert client.get("/api/v1/me/entitlements").json()["entitled"] is False
    assert Payment.objects.get().status == Payment.Status.FAILED


def test_three_d_secure_approved_then_webhook_settles_the_purchase(buyer, stripe_account, double, event_pass):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4000002760003184")).json()
    body = checkout(client, event_pass, method["id"], return_url="https://app.example.com/back").json()
    assert body["payment"]["status"] == "requires_action"
    assert body["payment"]["next_action"]["type"] == "redirect_to_url"
    assert body["payment"]["next_action"]["url"].startswith(double.url)
    payment = Payment.objects.get()
    double.authenticate(payment.gateway_reference, approve=True)
    response = send_webhook(
        intent_event(double, payment.gateway_reference, "payment_intent.succeeded", "evt_3ds_ok"), stripe_account
    )
    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.fee is not None and str(payment.fee.amount) == "0.5400"  # 2.9% of 9.99 + 0.25
    assert client.get("/api/v1/me/entitlements").json()["entitled"] is True
    assert StripeEvent.objects.filter(id="evt_3ds_ok").exists()  # dj-stripe keeps its copy


def test_three_d_secure_failed_then_webhook_fails_the_payment(buyer, stripe_account, double, event_pass):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4000002760003184")).json()
    checkout(client, event_pass, method["id"], return_url="https://app.example.com/back")
    payment = Payment.objects.get()
    double.authenticate(payment.gateway_reference, approve=False)
    send_webhook(
        intent_event(double, payment.gateway_reference, "payment_intent.payment_failed", "evt_3ds_ko"), stripe_account
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.decline_code == "authentication_failed"
    assert Access.objects.get().status == Access.Status.FAILED


def test_webhook_with_a_bad_signature_is_refused_and_nothing_is_stored(stripe_account, double):
    event = {
        "id": "evt_forged",
        "type": "payment_intent.succeeded",
        "data": {"object": {"object": "payment_intent", "id": "pi_x"}},
    }
    response = send_webhook(event, stripe_account, secret="whsec_wrong")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_invalid"
    unsigned = APIClient().post(f"/webhooks/gateways/{stripe_account.id}", event, format="json")
    assert unsigned.status_code == 400
    assert GatewayWebhookEvent.objects.count() == 0
    assert not StripeEvent.objects.filter(id="evt_forged").exists()


def test_webhook_older_than_five_minutes_is_refused(stripe_account, double):
    event = {"id": "evt_old", "type": "payout.paid", "data": {"object": {"object": "payout", "id": "po_x"}}}
    response = send_webhook(event, stripe_account, timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert GatewayWebhookEvent.objects.count() == 0


def test_a_duplicate_delivery_is_a_no_op(buyer, stripe_account, double, event_pass, premium):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()
    checkout(client, event_pass, method["id"])
    first = Payment.objects.get()
    event = intent_event(double, first.gateway_reference, "payment_intent.succeeded", "evt_dup")
    assert send_webhook(event, stripe_account).json()["outcome"] == "processed"
    # A second payment completes its 3-D Secure at Stripe; an event under the id already processed
    # would move it on if it were processed again.
    sca = attach(client, stripe_account, stripe_js_tokenize(double, "4000002760003184")).json()
    checkout(client, premium, sca["id"], return_url="https://app.example.com/back")
    second = Payment.objects.exclude(pk=first.pk).get()
    double.authenticate(second.gateway_reference, approve=True)
    replayed = intent_event(double, second.gateway_reference, "payment_intent.succeeded", "evt_dup")

    response = send_webhook(replayed, stripe_account)

    assert response.status_code == 200 and response.json()["outcome"] == "duplicate"
    second.refresh_from_db()
    assert second.status == Payment.Status.REQUIRES_ACTION
    assert GatewayWebhookEvent.objects.filter(event_id="evt_dup").count() == 1


def test_a_failing_handler_answers_500_stores_nothing_and_the_retry_is_processed(
    buyer, stripe_account, double, event_pass, monkeypatch
):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4000002760003184")).json()
    checkout(client, event_pass, method["id"], return_url="https://app.example.com/back")
    payment = Payment.objects.get()
    double.authenticate(payment.gateway_reference, approve=True)
    event = intent_event(double, payment.gateway_reference, "payment_intent.succeeded", "evt_crash")

    def crash(**kwargs):
        raise RuntimeError("handler bug")

    monkeypatch.setattr("payments.services.webhooks.payment_sync_by_reference", crash)
    client_raising = APIClient(raise_request_exception=False)
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
    response = client_raising.generic(
        "POST",
        f"/webhooks/gateways/{stripe_account.id}",
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert response.status_code == 500
    assert GatewayWebhookEvent.objects.count() == 0
    assert not StripeEvent.objects.filter(id="evt_crash").exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REQUIRES_ACTION

    monkeypatch.undo()
    monkeypatch.setattr(stripe, "api_base", double.url)
    retry = send_webhook(event, stripe_account)
    assert retry.status_code == 200 and retry.json()["outcome"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


def test_partial_and_full_refunds_go_to_stripe_with_our_keys(
    buyer, stripe_account, double, event_pass, operator_client
):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()
    payment_id = checkout(client, event_pass, method["id"]).json()["payment"]["id"]
    partial = operator_client.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": "4.00"}, format="json")
    assert partial.status_code == 201, partial.content
    assert partial.json()["status"] == "succeeded"
    rest = operator_client.post(f"/api/v1/payments/{payment_id}/refunds", {}, format="json")
    assert rest.json()["amount"] == {"amount": "5.99", "currency": "EUR"}
    assert Payment.objects.get().status == Payment.Status.REFUNDED
    sent = [params for verb, path, params in double.requests if path == "/v1/refunds"]
    assert [p["amount"] for p in sent] == ["400", "599"]
    assert set(Refund.objects.values_list("status", flat=True)) == {"succeeded"}
    assert client.get("/api/v1/me/entitlements").json()["entitled"] is False


def test_a_timeout_leaves_the_payment_processing_and_reconciliation_settles_it_without_a_second_charge(
    buyer, stripe_account, double, event_pass
):
    from datetime import timedelta

    from django.utils import timezone

    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()
    double.fail_next.extend([TimeoutError(), TimeoutError(), TimeoutError()])  # the SDK retries twice
    response = checkout(client, event_pass, method["id"])
    assert response.status_code == 201
    assert response.json()["payment"]["status"] == "processing"
    payments_reconcile(as_of=timezone.now() + timedelta(minutes=10))
    payment = Payment.objects.get()
    # Nothing reached Stripe, so there is no charge to find: the payment fails, it is not charged blindly.
    assert payment.status == Payment.Status.FAILED
    assert payment.decline_code == "processing_error"
    created = [1 for verb, path, _ in double.requests if verb == "POST" and path == "/v1/payment_intents"]
    assert len(created) == 3  # three tries under one idempotency key, none answered


def test_the_same_idempotency_key_charges_once(buyer, stripe_account, double):
    from moneyed import Money

    from payments.gateways.base import ChargeRequest
    from payments.gateways.registry import gateway_for
    from payments.services import gateway_customer_reference, payment_method_attach

    customer, _ = buyer
    method = payment_method_attach(
        customer=customer, gateway_account_id=stripe_account.id, token=stripe_js_tokenize(double, "4242424242424242")
    )
    gateway = gateway_for(stripe_account)
    request = ChargeRequest(
        amount=Money("9.99", "EUR"),
        idempotency_key="pay_test-1",
        payment_method_reference=method.gateway_reference,
        customer_reference=gateway_customer_reference(customer=customer, account=stripe_account),
        off_session=True,
    )
    first, second = gateway.charge(request), gateway.charge(request)
    assert first.reference == second.reference
    listed = stripe.StripeClient(SECRET_KEY, base_addresses={"api": double.url}).v1.payment_intents.list(
        params={"customer": request.customer_reference}
    )
    assert len(listed.data) == 1


def test_payout_webhook_records_what_reached_the_bank(buyer, stripe_account, double, event_pass):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()
    checkout(client, event_pass, method["id"])
    payment = Payment.objects.get()
    payout = {
        "id": "po_test_1",
        "object": "payout",
        "amount": 945,
        "currency": "eur",
        "arrival_date": int(time.time()),
        "status": "paid",
        "created": int(time.time()),
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "type": "bank_account",
        "source_type": "card",
        "automatic": True,
        "description": "STRIPE PAYOUT",
    }
    double.add_payout(payout, [payment.gateway_reference])
    event = {
        "id": "evt_payout",
        "object": "event",
        "api_version": "2026-08-26.dahlia",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payout.paid",
        "data": {"object": payout},
    }
    response = send_webhook(event, stripe_account)
    assert response.status_code == 200, response.content
    payout = Payout.objects.get(gateway_reference="po_test_1")
    assert str(payout.amount.amount) == "9.4500"
    payment.refresh_from_db()
    assert payment.payout_id == payout.id
    assert str(payout.fee_total.amount) == "0.5400"


def test_a_trial_sets_the_card_up_with_a_setup_intent_for_off_session_use(buyer, stripe_account, double, trial_plan):
    customer, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()
    response = checkout(client, trial_plan, method["id"], return_url="https://app.example.com/back")
    assert response.status_code == 201, response.content
    assert response.json()["subscription"]["status"] == "trialing"
    assert response.json()["setup"] is None
    sent = [params for verb, path, params in double.requests if path == "/v1/setup_intents"]
    assert len(sent) == 1
    assert sent[0]["usage"] == "off_session"
    assert sent[0]["confirm"] in ("true", "True")
    assert sent[0]["payment_method"] == customer.payment_methods.get().gateway_reference
    assert sent[0]["return_url"] == "https://app.example.com/back"
    assert not [1 for verb, path, _ in double.requests if path == "/v1/payment_intents" and verb == "POST"]


def test_a_trial_card_that_asks_for_3ds_gets_the_banks_page_from_the_setup_intent(
    buyer, stripe_account, double, trial_plan
):
    _, client = buyer
    method = attach(client, stripe_account, stripe_js_tokenize(double, "4000002760003184")).json()
    body = checkout(client, trial_plan, method["id"], return_url="https://app.example.com/back").json()
    assert body["subscription"]["status"] == "trialing"
    assert body["setup"]["status"] == "requires_action"
    assert body["setup"]["next_action"]["url"].startswith(f"{double.url}/3ds-setup/")
