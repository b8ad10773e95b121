"""The Adyen gateway against the Adyen double on loopback: what is sent (stored cards, merchant-
initiated renewals, Idempotency-Key on every POST), 3-D Secure through our return page, and
notifications verified before anything is stored, answered `[accepted]`, processed once."""

import json

import pytest
from moneyed import Money
from rest_framework.test import APIClient

from payments.models import GatewayWebhookEvent, Payment, PaymentMethod, Refund
from payments.services import LineSpec, invoice_create, invoice_finalize, invoice_pay, payment_refund
from payments.tests.adyen_double import HMAC_KEY
from tests.adyen_helpers import deliver
from tests.subscription_helpers import local_path

RETURN_URL = "https://app.example.com/back"


def attach(client, account, token):
    return client.post("/api/v1/me/payment-methods", {"gateway": account.id, "token": token}, format="json")


def checkout(client, plan, method_id, **extra):
    return client.post("/api/v1/me/checkout", {"plan": plan.id, "payment_method": method_id, **extra}, format="json")


def test_the_gateway_route_gives_the_app_the_client_key(buyer, adyen_account):
    _, client = buyer
    body = client.get("/api/v1/me/gateway").json()
    assert body == {
        "id": adyen_account.id,
        "kind": "adyen",
        "client": {"client_key": "test_DOUBLECLIENTKEY000000000000", "environment": "test"},
    }


def test_attach_stores_the_card_with_a_zero_value_verification_and_keeps_no_card_data(buyer, adyen_account, adyen):
    customer, client = buyer
    response = attach(client, adyen_account, adyen.encrypt("4111111145551142"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["brand"], body["last4"], body["exp_month"], body["exp_year"]) == ("visa", "1142", 3, 2030)
    method = PaymentMethod.objects.get()
    assert method.gateway_reference in adyen.stored
    assert method.country == "NL" and method.fingerprint.startswith("A")
    sent = adyen.sent("/payments")[0]
    assert sent["amount"] == {"value": 0, "currency": "EUR"}
    assert sent["storePaymentMethod"] is True and sent["shopperReference"] == customer.id
    assert sent["recurringProcessingModel"] == "Subscription" and sent["shopperInteraction"] == "Ecommerce"


def test_a_card_refused_at_verification_answers_402(buyer, adyen_account, adyen):
    _, client = buyer
    response = attach(client, adyen_account, adyen.encrypt("4111111145551142", holder="DECLINED"))
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    assert not PaymentMethod.objects.exists()


def test_a_token_that_is_not_an_adyen_card_is_refused(buyer, adyen_account):
    _, client = buyer
    response = attach(client, adyen_account, "tok_not_adyen")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_token"


def test_on_session_checkout_charges_the_stored_card_and_renewals_are_merchant_initiated(
    buyer, adyen_account, adyen, event_pass
):
    customer, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    response = checkout(client, event_pass, method["id"], return_url=RETURN_URL)
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "succeeded"
    first = adyen.sent("/payments")[-1]
    assert first["amount"] == {"value": 999, "currency": "EUR"}
    assert first["shopperInteraction"] == "Ecommerce"
    assert first["paymentMethod"] == {
        "type": "scheme",
        "storedPaymentMethodId": PaymentMethod.objects.get().gateway_reference,
    }
    payment = Payment.objects.get()
    assert first["reference"] == payment.current_idempotency_key

    invoice = invoice_finalize(
        invoice=invoice_create(customer=customer, currency="EUR", lines=[LineSpec("Renewal", Money("9.99", "EUR"))])
    )
    renewal = invoice_pay(invoice=invoice, payment_method=PaymentMethod.objects.get(), off_session=True)
    assert renewal.status == Payment.Status.SUCCEEDED
    sent = adyen.sent("/payments")[-1]
    assert sent["shopperInteraction"] == "ContAuth" and sent["recurringProcessingModel"] == "Subscription"
    assert "returnUrl" not in sent


def test_every_post_carries_our_idempotency_key_and_a_lost_answer_is_sent_again_under_it(
    buyer, adyen_account, adyen, event_pass
):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    adyen.lose_answers["/v72/payments"] = 1
    response = checkout(client, event_pass, method["id"])
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "succeeded"
    charges = [b for b in adyen.sent("/payments") if b["amount"]["value"] == 999]
    assert len(charges) == 2 and charges[0] == charges[1]  # the same request, replayed
    assert len([p for p in adyen.payments.values() if p["value"] == 999]) == 1  # charged once


def test_three_d_secure_goes_through_our_return_page_which_finishes_the_payment(
    buyer, adyen_account, adyen, event_pass
):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4917610000000000")).json()
    body = checkout(client, event_pass, method["id"], return_url=RETURN_URL).json()
    assert body["payment"]["status"] == "requires_action"
    url = body["payment"]["next_action"]["url"]
    assert url.startswith(adyen.url)
    back = adyen.challenge(url, approve=True)
    assert "/gateways/return/" in back and "redirectResult=" in back
    landed = APIClient().get(local_path(back))
    assert landed.status_code == 302
    assert landed["Location"] == f"{RETURN_URL}?payment={body['payment']['id']}"
    payment = Payment.objects.get(pk=body["payment"]["id"])
    assert payment.status == Payment.Status.SUCCEEDED
    assert client.get("/api/v1/me/entitlements").json()["entitled"] is True
    deliver(adyen, adyen_account)  # the AUTHORISATION that follows changes nothing
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


def test_a_failed_challenge_fails_the_payment(buyer, adyen_account, adyen, event_pass):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4917610000000000")).json()
    body = checkout(client, event_pass, method["id"], return_url=RETURN_URL).json()
    back = adyen.challenge(body["payment"]["next_action"]["url"], approve=False)
    APIClient().get(local_path(back))
    payment = Payment.objects.get()
    assert (payment.status, payment.decline_code) == (Payment.Status.FAILED, "authentication_failed")


def test_a_forged_return_token_changes_nothing(buyer, adyen_account, adyen, event_pass):
    response = APIClient().get("/gateways/return/forged-token?redirectResult=x")
    assert response.status_code == 404


def test_an_authorisation_notification_settles_a_payment_whose_answer_never_came(
    buyer, adyen_account, adyen, event_pass
):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    adyen.lose_answers["/v72/payments"] = 1  # processed, its answer lost; the two tries after it get none
    adyen.fail_next.extend(["drop", "drop"])
    response = checkout(client, event_pass, method["id"])
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.PROCESSING, response.content
    deliver(adyen, adyen_account)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert client.get("/api/v1/me/entitlements").json()["entitled"] is True


def _notification(item: dict) -> bytes:
    return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]}).encode()


def test_a_notification_with_a_bad_signature_is_refused_and_nothing_is_stored(adyen_account):
    item = {
        "amount": {"currency": "EUR", "value": 999},
        "eventCode": "AUTHORISATION",
        "merchantAccountCode": "MediaManagerTestECOM",
        "merchantReference": "pay_x-1",
        "pspReference": "ABCDEF0123456789",
        "success": "true",
        "additionalData": {"hmacSignature": "bm90IHRoZSBzaWduYXR1cmU="},
    }
    response = APIClient().generic(
        "POST", f"/webhooks/gateways/{adyen_account.id}", _notification(item), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_invalid"
    assert not GatewayWebhookEvent.objects.exists()


def test_a_notification_delivered_twice_is_processed_once(buyer, adyen_account, adyen, event_pass):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    checkout(client, event_pass, method["id"])
    bodies = adyen.notifications_take()
    for body in bodies + bodies:
        response = APIClient().generic(
            "POST", f"/webhooks/gateways/{adyen_account.id}", body, content_type="application/json"
        )
        assert response.status_code == 200 and response.content == b"[accepted]"
    assert GatewayWebhookEvent.objects.count() == len(bodies)


def test_a_failing_handler_answers_500_stores_nothing_and_the_retry_is_processed(
    buyer, adyen_account, adyen, event_pass, monkeypatch
):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    adyen.lose_answers["/v72/payments"] = 1
    adyen.fail_next.extend(["drop", "drop"])
    checkout(client, event_pass, method["id"])
    bodies = adyen.notifications_take()
    from payments.services import webhooks

    def broken(**kwargs):
        raise RuntimeError("handler crashed")

    monkeypatch.setattr(webhooks, "payment_apply_notice", broken)
    failing = APIClient(raise_request_exception=False).generic(
        "POST", f"/webhooks/gateways/{adyen_account.id}", bodies[-1], content_type="application/json"
    )
    assert failing.status_code == 500
    assert not GatewayWebhookEvent.objects.exists()
    monkeypatch.undo()
    retry = APIClient().generic(
        "POST", f"/webhooks/gateways/{adyen_account.id}", bodies[-1], content_type="application/json"
    )
    assert retry.status_code == 200 and retry.content == b"[accepted]"
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED


def test_refunds_are_received_then_settled_by_the_refund_notification(buyer, adyen_account, adyen, event_pass):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    checkout(client, event_pass, method["id"])
    payment = Payment.objects.get()
    partial = payment_refund(payment=payment, amount=Money("4.00", "EUR"))
    assert partial.status == Refund.Status.PENDING and partial.gateway_reference in adyen.refunds
    sent = adyen.sent("/refunds")[0]
    assert sent["amount"] == {"value": 400, "currency": "EUR"} and sent["reference"] == partial.id
    adyen.refunds_settle(success=True)
    deliver(adyen, adyen_account)
    partial.refresh_from_db()
    payment.refresh_from_db()
    assert partial.status == Refund.Status.SUCCEEDED
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED


def test_a_refund_the_bank_refuses_gives_its_amount_back(buyer, adyen_account, adyen, event_pass):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    checkout(client, event_pass, method["id"])
    payment = Payment.objects.get()
    refund = payment_refund(payment=payment)
    adyen.refunds_settle(success=False)
    deliver(adyen, adyen_account)
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    assert (payment.status, payment.amount_refunded) == (Payment.Status.SUCCEEDED, 0)


def test_a_chargeback_takes_the_money_back_from_the_payment_once(buyer, adyen_account, adyen, event_pass):
    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    checkout(client, event_pass, method["id"])
    payment = Payment.objects.get()
    adyen.notifications_take()
    adyen.chargeback(payment.gateway_reference, 999)
    bodies = adyen.notifications_take()
    for body in bodies + bodies:
        APIClient().generic("POST", f"/webhooks/gateways/{adyen_account.id}", body, content_type="application/json")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert list(Refund.objects.values_list("reason", "status")) == [("chargeback", "succeeded")]


def test_no_answer_at_attach_answers_503_and_sends_new_cards_elsewhere(buyer, adyen_account, adyen):
    _, client = buyer
    adyen.down = True
    response = attach(client, adyen_account, adyen.encrypt("4111111145551142"))
    assert response.status_code == 503
    assert response.json()["error"] == {
        "type": "api_error",
        "code": "gateway_unavailable",
        "message": response.json()["error"]["message"],
        "param": "gateway",
    }
    adyen_account.refresh_from_db()
    assert adyen_account.unavailable_until is not None and adyen_account.unanswered == 1


def test_the_hmac_is_checked_with_the_key_from_the_customer_area(adyen_account):
    from payments.gateways.adyen import _verify_item

    item = {
        "pspReference": "X",
        "eventCode": "AUTHORISATION",
        "success": "true",
        "amount": {"value": 1, "currency": "EUR"},
    }
    from Adyen.util import generate_notification_sig

    item["additionalData"] = {"hmacSignature": generate_notification_sig(dict(item), HMAC_KEY).decode()}
    assert _verify_item(item, HMAC_KEY)
    assert not _verify_item(item, "00" * 32)
    assert not _verify_item(item, "not hex")


@pytest.mark.parametrize("received", [True, False], ids=["answer-lost", "never-received"])
def test_reconciliation_sends_an_unanswered_charge_again_under_its_key_and_it_is_charged_once(
    buyer, adyen_account, adyen, event_pass, received
):
    from datetime import timedelta

    from django.utils import timezone

    from payments.services import payments_reconcile

    _, client = buyer
    method = attach(client, adyen_account, adyen.encrypt("4111111145551142")).json()
    if received:
        adyen.lose_answers["/v72/payments"] = 1  # processed, the answer lost; the next two tries get none
        adyen.fail_next.extend(["drop", "drop"])
    else:
        adyen.fail_next.extend(["drop", "drop", "drop"])  # it never reaches Adyen
    checkout(client, event_pass, method["id"])
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.PROCESSING
    adyen.notifications_take()  # the AUTHORISATION is late: reconciliation does not wait for it

    counts = payments_reconcile(as_of=timezone.now() + timedelta(minutes=10))

    assert counts["synced"] == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert len([p for p in adyen.payments.values() if p["value"] == 999]) == 1  # charged once
    keys = {b["reference"] for b in adyen.sent("/payments") if b["amount"]["value"] == 999}
    assert keys == {payment.current_idempotency_key}
