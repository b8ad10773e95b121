"""Payments end to end over HTTP with the sandbox gateway: routing, tokenizing, cards, checkout,
3-D Secure, declines, refunds, idempotent replays, invoices and the events they write."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import client_for_customer
from integrations.models import Event
from payments.gateways.sandbox_models import SandboxCharge, SandboxRefund
from payments.models import Customer, Invoice, Payment, Refund
from payments.services import gateway_account_create, gateway_account_update
from payments.tests.factories import CustomerFactory
from plans.models import Access
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

RETURN_URL = "https://app.example.com/done"


@pytest.fixture
def sandbox(db):
    return gateway_account_create(provider="sandbox", display_name="Sandbox")


@pytest.fixture
def event_pass(db):
    return PlanFactory(
        code="event-pass",
        kind="one_off",
        interval=None,
        access_days=2,
        prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "700", "currency": "JPY"}],
    )


def tokenize(key, number, exp_month=12, exp_year=2034, cvc="123"):
    return APIClient().post(
        "/sandbox/v1/tokens",
        {"publishable_key": key, "card": {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}},
        format="json",
    )


def attach_card(client, number="4242424242424242"):
    gateway = client.get("/api/v1/me/gateway").json()
    token = tokenize(gateway["client"]["publishable_key"], number)
    assert token.status_code == 201, token.content
    response = client.post(
        "/api/v1/me/payment-methods", {"gateway": gateway["id"], "token": token.json()["token"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def buy(client, plan, card, **extra):
    return client.post("/api/v1/me/checkout", {"plan": plan.id, "payment_method": card["id"], **extra}, format="json")


def paid_checkout(client, plan, number="4242424242424242"):
    response = buy(client, plan, attach_card(client, number))
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "succeeded"
    return response.json()


def error_of(response):
    error = response.json()["error"]
    return response.status_code, error["type"], error["code"]


def entitled(client) -> bool:
    return client.get("/api/v1/me/entitlements").json()["entitled"]


def challenge_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def events_of(operator_client, type_):
    response = operator_client.get("/api/v1/events", {"type": type_})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def refund(operator_client, payment_id, **body):
    return operator_client.post(f"/api/v1/payments/{payment_id}/refunds", body, format="json")


# --- Routing: GET /api/v1/me/gateway


def test_gateway_is_the_first_active_account_by_priority_serving_country_and_currency(customer_client):
    gateway_account_create(provider="sandbox", display_name="Japan only", countries=["JP"], priority=10)
    gateway_account_create(provider="sandbox", display_name="Off", priority=20, active=False)
    euro = gateway_account_create(provider="sandbox", display_name="Euro", currencies=["EUR"], priority=30)
    gateway_account_create(provider="sandbox", display_name="Fallback", priority=40)

    response = customer_client.get("/api/v1/me/gateway")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == euro.id
    assert body["kind"] == "sandbox"
    assert body["client"]["publishable_key"] == euro.credentials["publishable_key"]
    assert body["client"]["tokenize_url"].endswith("/sandbox/v1/tokens")
    assert "secret_key" not in body["client"]


def test_gateway_for_another_country_skips_accounts_that_do_not_serve_it():
    japan = gateway_account_create(provider="sandbox", display_name="Japan", countries=["JP"], priority=10)
    rest = gateway_account_create(provider="sandbox", display_name="Rest", priority=20)

    jp = client_for_customer(CustomerFactory(country="JP", currency="JPY")).get("/api/v1/me/gateway")
    de = client_for_customer(CustomerFactory(country="DE", currency="EUR")).get("/api/v1/me/gateway")

    assert jp.json()["id"] == japan.id
    assert de.json()["id"] == rest.id


def test_gateway_with_no_countries_serves_every_country():
    anywhere = gateway_account_create(provider="sandbox", display_name="Anywhere", countries=[], currencies=["EUR"])

    for country in ("DE", "PT", "FI"):
        client = client_for_customer(CustomerFactory(country=country, currency="EUR"))
        assert client.get("/api/v1/me/gateway").json()["id"] == anywhere.id


def test_gateway_skips_an_inactive_account(customer_client):
    gateway_account_create(provider="sandbox", display_name="Off", priority=1, active=False)
    on = gateway_account_create(provider="sandbox", display_name="On", priority=50)

    assert customer_client.get("/api/v1/me/gateway").json()["id"] == on.id


def test_gateway_answers_422_when_the_only_account_is_inactive(customer_client):
    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    gateway_account_update(account=account, active=False)

    response = customer_client.get("/api/v1/me/gateway")

    assert error_of(response) == (422, "invalid_request_error", "no_gateway_available")


def test_gateway_answers_422_no_gateway_available_for_a_currency_nobody_serves():
    gateway_account_create(provider="sandbox", display_name="Euro", currencies=["EUR"])
    client = client_for_customer(CustomerFactory(country="GB", currency="GBP"))

    response = client.get("/api/v1/me/gateway")

    assert error_of(response) == (422, "invalid_request_error", "no_gateway_available")
    assert response.json()["error"]["param"] == "currency"


def test_gateway_currency_param_routes_for_that_currency(customer_client):
    euro = gateway_account_create(provider="sandbox", display_name="Euro", currencies=["EUR"], priority=10)
    yen = gateway_account_create(provider="sandbox", display_name="Yen", currencies=["JPY"], priority=20)

    assert customer_client.get("/api/v1/me/gateway").json()["id"] == euro.id
    assert customer_client.get("/api/v1/me/gateway", {"currency": "JPY"}).json()["id"] == yen.id
    assert customer_client.get("/api/v1/me/gateway", {"currency": "jpy"}).json()["id"] == yen.id
    missing = customer_client.get("/api/v1/me/gateway", {"currency": "USD"})
    assert error_of(missing) == (422, "invalid_request_error", "no_gateway_available")


def test_gateway_currency_param_that_is_no_currency_answers_400(customer_client, sandbox):
    response = customer_client.get("/api/v1/me/gateway", {"currency": "XXX"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("currency_invalid", "currency_not_enabled")


# --- Tokenizing: POST /sandbox/v1/tokens


def test_tokenize_refuses_a_number_failing_the_luhn_check(sandbox):
    response = tokenize(sandbox.credentials["publishable_key"], "4242424242424241")

    assert error_of(response) == (400, "invalid_request_error", "invalid_number")
    assert response.json()["error"]["param"] == "card.number"


def test_tokenize_refuses_an_expired_card_with_402_expired_card(sandbox):
    last_month = timezone.now().date().replace(day=1) - timedelta(days=1)

    response = tokenize(
        sandbox.credentials["publishable_key"], "4242424242424242", exp_month=last_month.month, exp_year=last_month.year
    )

    assert error_of(response) == (402, "card_error", "expired_card")


def test_tokenize_accepts_a_card_expiring_this_month(sandbox):
    today = timezone.now().date()

    response = tokenize(sandbox.credentials["publishable_key"], "4242424242424242", today.month, today.year)

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4242424242424242", "visa"), ("5555555555554444", "mastercard"), ("378282246310005", "amex")],
)
def test_tokenize_reads_the_brand_from_the_number(sandbox, number, brand):
    response = tokenize(sandbox.credentials["publishable_key"], number, cvc="1234" if brand == "amex" else "123")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"].startswith("tok_")
    assert body["card"] == {"brand": brand, "last4": number[-4:]}
    assert number not in response.content.decode()


def test_tokenize_refuses_an_unknown_publishable_key(sandbox):
    response = tokenize("pk_sandbox_unknown", "4242424242424242")

    assert error_of(response) == (400, "invalid_request_error", "invalid_publishable_key")


def test_tokenize_answers_404_when_no_sandbox_account_is_active(db):
    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    key = account.credentials["publishable_key"]
    gateway_account_update(account=account, active=False)

    assert tokenize(key, "4242424242424242").status_code == 404


def test_tokenize_answers_404_when_there_is_no_sandbox_account(db):
    assert tokenize("pk_sandbox_whatever", "4242424242424242").status_code == 404


# --- Cards: /api/v1/me/payment-methods


def test_attach_answers_201_with_the_card_and_the_first_card_is_the_default(customer_client, sandbox):
    token = tokenize(sandbox.credentials["publishable_key"], "5555555555554444", exp_month=3, exp_year=2031)

    response = customer_client.post(
        "/api/v1/me/payment-methods", {"gateway": sandbox.id, "token": token.json()["token"]}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("pm_")
    assert {k: body[k] for k in ("gateway", "brand", "last4", "exp_month", "exp_year", "is_default")} == {
        "gateway": sandbox.id,
        "brand": "mastercard",
        "last4": "4444",
        "exp_month": 3,
        "exp_year": 2031,
        "is_default": True,
    }


def test_attach_a_second_card_leaves_the_first_as_default(customer_client, sandbox):
    first = attach_card(customer_client)
    second = attach_card(customer_client, "5555555555554444")

    assert second["is_default"] is False
    listed = customer_client.get("/api/v1/me/payment-methods").json()["results"]
    assert [(m["id"], m["is_default"]) for m in listed] == [(second["id"], False), (first["id"], True)]


def test_attach_refuses_a_token_of_another_gateway(customer_client, sandbox):
    other = gateway_account_create(provider="sandbox", display_name="Other", priority=200)
    token = tokenize(other.credentials["publishable_key"], "4242424242424242").json()["token"]

    response = customer_client.post(
        "/api/v1/me/payment-methods", {"gateway": sandbox.id, "token": token}, format="json"
    )

    assert error_of(response) == (400, "invalid_request_error", "invalid_token")


def test_make_default_moves_the_default_to_that_card(customer_client, sandbox):
    first = attach_card(customer_client)
    second = attach_card(customer_client, "5555555555554444")

    response = customer_client.post(f"/api/v1/me/payment-methods/{second['id']}/default")

    assert response.status_code == 200, response.content
    assert response.json()["is_default"] is True
    listed = {m["id"]: m["is_default"] for m in customer_client.get("/api/v1/me/payment-methods").json()["results"]}
    assert listed == {first["id"]: False, second["id"]: True}


def test_delete_the_default_card_answers_204_and_the_default_moves_to_the_remaining_card(customer_client, sandbox):
    first = attach_card(customer_client)
    second = attach_card(customer_client, "5555555555554444")

    response = customer_client.delete(f"/api/v1/me/payment-methods/{first['id']}")

    assert response.status_code == 204
    listed = customer_client.get("/api/v1/me/payment-methods").json()["results"]
    assert [(m["id"], m["is_default"]) for m in listed] == [(second["id"], True)]


def test_delete_a_card_twice_answers_404_the_second_time(customer_client, sandbox):
    card = attach_card(customer_client)

    assert customer_client.delete(f"/api/v1/me/payment-methods/{card['id']}").status_code == 204
    assert customer_client.delete(f"/api/v1/me/payment-methods/{card['id']}").status_code == 404


def test_another_customers_card_answers_404(customer_client, sandbox):
    other_client = client_for_customer(CustomerFactory())
    theirs = attach_card(other_client)

    assert customer_client.delete(f"/api/v1/me/payment-methods/{theirs['id']}").status_code == 404
    assert customer_client.post(f"/api/v1/me/payment-methods/{theirs['id']}/default").status_code == 404
    assert customer_client.get("/api/v1/me/payment-methods").json()["results"] == []
    assert other_client.get("/api/v1/me/payment-methods").json()["results"][0]["id"] == theirs["id"]


# --- A one-off purchase


def test_one_off_purchase_answers_201_with_access_invoice_and_payment(customer_client, customer, sandbox, event_pass):
    card = attach_card(customer_client)

    response = buy(customer_client, event_pass, card)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"subscription", "invoice", "payment", "setup"}
    assert body["setup"] is None  # only a trial behind a card that asks for 3-D Secure has one
    assert body["payment"]["id"].startswith("pay_")
    assert body["payment"]["status"] == "succeeded"
    assert body["payment"]["amount"] == {"amount": "9.99", "currency": "EUR"}
    assert body["payment"]["next_action"] is None
    assert body["invoice"]["status"] == "paid"
    assert body["invoice"]["customer"] == customer.id
    assert body["invoice"]["total"] == {"amount": "9.99", "currency": "EUR"}
    assert body["subscription"]["plan"] == event_pass.id
    assert body["subscription"]["status"] == "active"
    access_from = datetime.fromisoformat(body["subscription"]["access_from"])
    access_until = datetime.fromisoformat(body["subscription"]["access_until"])
    assert access_until - access_from == timedelta(days=2)


def test_one_off_purchase_entitles_the_customer_until_the_access_ends(customer_client, sandbox, event_pass):
    assert entitled(customer_client) is False
    body = paid_checkout(customer_client, event_pass)

    entitlements = customer_client.get("/api/v1/me/entitlements").json()

    assert entitlements["entitled"] is True
    assert len(entitlements["entitlements"]) == 1
    assert entitlements["entitlements"][0]["plan"] == event_pass.id
    assert entitlements["entitlements"][0]["source"] == "one_off"
    assert entitlements["entitlements"][0]["access_until"] == body["subscription"]["access_until"]


def test_one_off_purchase_charges_the_default_card_when_none_is_named(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)

    response = customer_client.post("/api/v1/me/checkout", {"plan": event_pass.id}, format="json")

    assert response.status_code == 201, response.content
    payment = Payment.objects.get(pk=response.json()["payment"]["id"])
    assert payment.payment_method_id == card["id"]
    assert payment.off_session is False


# --- 3-D Secure


def test_three_d_secure_approved_settles_payment_and_grants_access(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002760003184")

    response = buy(customer_client, event_pass, card, return_url=RETURN_URL)

    assert response.status_code == 201, response.content
    body = response.json()
    payment_id = body["payment"]["id"]
    assert body["payment"]["status"] == "requires_action"
    assert body["payment"]["next_action"]["type"] == "redirect_to_url"
    assert body["invoice"]["status"] == "open"
    assert body["subscription"]["status"] == "pending"
    assert entitled(customer_client) is False

    path = challenge_path(body["payment"]["next_action"]["url"])
    browser = APIClient()
    page = browser.get(path)
    assert page.status_code == 200
    assert b"Approve" in page.content and b"Fail" in page.content
    done = browser.post(path, {"action": "approve"})

    assert done.status_code == 302
    location = urlsplit(done["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL
    assert parse_qs(location.query) == {"payment": [payment_id]}
    payment = customer_client.get(f"/api/v1/me/payments/{payment_id}").json()
    assert payment["status"] == "succeeded"
    assert payment["next_action"] is None
    assert Invoice.objects.get(pk=body["invoice"]["id"]).status == Invoice.Status.PAID
    assert entitled(customer_client) is True


def test_three_d_secure_failed_fails_the_payment_and_never_grants_access(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    body = buy(customer_client, event_pass, card, return_url=f"{RETURN_URL}?from=checkout").json()
    payment_id = body["payment"]["id"]
    assert body["payment"]["status"] == "requires_action"

    done = APIClient().post(challenge_path(body["payment"]["next_action"]["url"]), {"action": "fail"})

    assert done.status_code == 302
    assert parse_qs(urlsplit(done["Location"]).query) == {"from": ["checkout"], "payment": [payment_id]}
    payment = customer_client.get(f"/api/v1/me/payments/{payment_id}").json()
    assert payment["status"] == "failed"
    assert payment["decline_code"] == "authentication_failed"
    access = Access.objects.get(pk=body["subscription"]["id"])
    assert access.status == Access.Status.FAILED
    assert access.access_from is None and access.access_until is None
    assert entitled(customer_client) is False


def test_answering_the_challenge_page_twice_changes_nothing(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    body = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    path = challenge_path(body["payment"]["next_action"]["url"])
    browser = APIClient()
    browser.post(path, {"action": "fail"})
    first_state = Payment.objects.values("status", "decline_code", "updated_at").get(pk=body["payment"]["id"])

    again = browser.post(path, {"action": "approve"})

    assert again.status_code == 302
    assert Payment.objects.values("status", "decline_code", "updated_at").get(pk=body["payment"]["id"]) == first_state
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.FAILED
    assert Access.objects.get().status == Access.Status.FAILED
    assert entitled(customer_client) is False
    assert Event.objects.filter(type="payment.failed").count() == 1


def test_answering_an_approved_challenge_again_grants_access_once(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002760003184")
    body = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    path = challenge_path(body["payment"]["next_action"]["url"])
    browser = APIClient()
    browser.post(path, {"action": "approve"})
    access_until = Access.objects.get().access_until

    browser.post(path, {"action": "fail"})

    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    assert Access.objects.get().access_until == access_until
    assert Event.objects.filter(type="payment.succeeded").count() == 1
    assert Event.objects.filter(type="invoice.paid").count() == 1


# --- Declines


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000009987", "lost_card"),
        ("4000000000000069", "expired_card"),
        ("4000000000000341", "card_declined"),
    ],
)
def test_a_declined_card_answers_402_and_entitles_nothing(customer_client, sandbox, event_pass, number, code):
    card = attach_card(customer_client, number)

    response = buy(customer_client, event_pass, card)

    assert error_of(response) == (402, "card_error", code)
    assert entitled(customer_client) is False
    payments = customer_client.get("/api/v1/me/payments").json()["results"]
    assert len(payments) == 1
    assert payments[0]["status"] == "failed"
    assert payments[0]["decline_code"] == code
    assert payments[0]["amount"] == {"amount": "9.99", "currency": "EUR"}
    assert Access.objects.get().status == Access.Status.FAILED
    assert Invoice.objects.get().status != Invoice.Status.PAID


def test_a_declined_card_leaves_the_customer_currency_unfixed(customer_client, customer, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000000002"))

    customer.refresh_from_db()
    assert customer.currency_fixed_at is None


# --- Refunds


def test_partial_then_full_refund_moves_the_payment_and_ends_access(
    operator_client, customer_client, sandbox, event_pass
):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    partial = refund(operator_client, payment_id, amount="4.00", reason="requested_by_customer")

    assert partial.status_code == 201, partial.content
    assert partial.json()["id"].startswith("ref_")
    assert partial.json()["amount"] == {"amount": "4.00", "currency": "EUR"}
    assert partial.json()["status"] == "succeeded"
    after_partial = operator_client.get(f"/api/v1/payments/{payment_id}").json()
    assert after_partial["status"] == "partially_refunded"
    assert after_partial["amount_refunded"] == {"amount": "4.00", "currency": "EUR"}
    assert entitled(customer_client) is True

    rest = refund(operator_client, payment_id)

    assert rest.status_code == 201, rest.content
    assert rest.json()["amount"] == {"amount": "5.99", "currency": "EUR"}
    after_full = operator_client.get(f"/api/v1/payments/{payment_id}").json()
    assert after_full["status"] == "refunded"
    assert after_full["amount_refunded"] == {"amount": "9.99", "currency": "EUR"}
    assert entitled(customer_client) is False
    assert Access.objects.get().status == Access.Status.REFUNDED
    assert SandboxCharge.objects.get().amount_refunded == Decimal("9.99")


def test_refund_accepts_a_money_object(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    response = refund(operator_client, payment_id, amount={"amount": "1.50", "currency": "EUR"})

    assert response.status_code == 201, response.content
    assert Payment.objects.get(pk=payment_id).amount_refunded == Decimal("1.50")


def test_refund_over_what_is_left_is_refused_and_nothing_changes(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    assert refund(operator_client, payment_id, amount="4.00").status_code == 201
    before = Payment.objects.values("status", "amount_refunded", "updated_at").get(pk=payment_id)

    too_much = refund(operator_client, payment_id, amount="6.00")

    assert error_of(too_much) == (422, "invalid_request_error", "refund_exceeds_payment")
    assert too_much.json()["error"]["param"] == "amount"
    assert Payment.objects.values("status", "amount_refunded", "updated_at").get(pk=payment_id) == before
    assert Refund.objects.count() == 1
    assert SandboxRefund.objects.count() == 1
    assert entitled(customer_client) is True


def test_refund_of_more_than_the_payment_is_refused(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    response = refund(operator_client, payment_id, amount="10.00")

    assert error_of(response) == (422, "invalid_request_error", "refund_exceeds_payment")
    assert Payment.objects.get(pk=payment_id).status == Payment.Status.SUCCEEDED
    assert Payment.objects.get(pk=payment_id).amount_refunded == 0
    assert not Refund.objects.exists()
    assert not SandboxRefund.objects.exists()


def test_refund_of_a_refunded_payment_is_refused(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    assert refund(operator_client, payment_id).status_code == 201

    again = refund(operator_client, payment_id)

    assert again.status_code == 422
    assert Refund.objects.count() == 1


def test_refund_of_a_failed_payment_is_refused(operator_client, customer_client, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000000002"))
    payment = Payment.objects.get()

    response = refund(operator_client, payment.id)

    assert error_of(response) == (422, "invalid_request_error", "payment_not_refundable")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (Payment.Status.FAILED, 0)
    assert not Refund.objects.exists()


def test_refund_of_a_payment_waiting_for_authentication_is_refused(
    operator_client, customer_client, sandbox, event_pass
):
    body = buy(customer_client, event_pass, attach_card(customer_client, "4000002760003184")).json()

    response = refund(operator_client, body["payment"]["id"], amount="1.00")

    assert error_of(response) == (422, "invalid_request_error", "payment_not_refundable")
    assert not Refund.objects.exists()


def test_refund_needs_the_operator_key(customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]

    response = refund(customer_client, payment_id, amount="1.00")

    assert response.status_code == 403
    assert not Refund.objects.exists()


# --- Idempotent checkout


def test_a_replayed_checkout_with_the_same_idempotency_key_charges_once(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)
    body = {"plan": event_pass.id, "payment_method": card["id"]}

    first = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-1")
    second = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-1")

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1
    assert Invoice.objects.count() == 1
    assert Access.objects.count() == 1


def test_a_replayed_declined_checkout_replays_the_402_without_charging_again(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000000000009995")
    body = {"plan": event_pass.id, "payment_method": card["id"]}

    first = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-2")
    second = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-2")

    assert first.status_code == second.status_code == 402
    assert second.content == first.content
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1


def test_the_same_idempotency_key_with_another_checkout_body_answers_422(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)
    customer_client.post(
        "/api/v1/me/checkout",
        {"plan": event_pass.id, "payment_method": card["id"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="checkout-3",
    )

    response = customer_client.post(
        "/api/v1/me/checkout",
        {"plan": event_pass.id, "payment_method": card["id"], "return_url": RETURN_URL},
        format="json",
        HTTP_IDEMPOTENCY_KEY="checkout-3",
    )

    assert error_of(response) == (422, "invalid_request_error", "idempotency_key_reused")
    assert Payment.objects.count() == 1


def test_a_replayed_refund_with_the_same_idempotency_key_refunds_once(
    operator_client, customer_client, sandbox, event_pass
):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    url = f"/api/v1/payments/{payment_id}/refunds"

    first = operator_client.post(url, {"amount": "2.00"}, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")
    second = operator_client.post(url, {"amount": "2.00"}, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")

    assert first.status_code == 201
    assert second.content == first.content
    assert Refund.objects.count() == 1
    assert SandboxRefund.objects.count() == 1
    assert Payment.objects.get(pk=payment_id).amount_refunded == Decimal("2.00")


# --- Invoices


def test_invoice_numbers_are_consecutive_across_customers(customer_client, sandbox, event_pass):
    other_client = client_for_customer(CustomerFactory())
    mine, theirs = attach_card(customer_client), attach_card(other_client)
    numbers = [
        buy(customer_client, event_pass, mine).json()["invoice"]["number"],
        buy(other_client, event_pass, theirs).json()["invoice"]["number"],
        buy(customer_client, event_pass, mine).json()["invoice"]["number"],
    ]

    year = timezone.now().year
    assert all(re.fullmatch(rf"INV-{year}-\d{{6}}", number) for number in numbers), numbers
    sequence = [int(number.rsplit("-", 1)[1]) for number in numbers]
    assert sequence == list(range(sequence[0], sequence[0] + 3))


def test_a_declined_checkout_still_numbers_its_invoice_without_a_gap(customer_client, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000000002"))
    paid = paid_checkout(customer_client, event_pass)

    numbers = sorted(Invoice.objects.values_list("number", flat=True))

    assert paid["invoice"]["number"] == numbers[-1]
    first, second = (int(n.rsplit("-", 1)[1]) for n in numbers)
    assert second == first + 1


def test_invoices_are_listed_for_the_operator_and_for_their_own_customer(
    operator_client, customer_client, customer, sandbox, event_pass
):
    other = CustomerFactory()
    other_client = client_for_customer(other)
    mine = paid_checkout(customer_client, event_pass)
    theirs = paid_checkout(other_client, event_pass)

    everything = operator_client.get("/api/v1/invoices").json()["results"]
    filtered = operator_client.get("/api/v1/invoices", {"customer": customer.id}).json()["results"]
    detail = operator_client.get(f"/api/v1/invoices/{mine['invoice']['id']}")
    own = customer_client.get("/api/v1/me/invoices").json()["results"]

    assert {i["id"] for i in everything} == {mine["invoice"]["id"], theirs["invoice"]["id"]}
    assert [i["id"] for i in filtered] == [mine["invoice"]["id"]]
    assert detail.status_code == 200
    assert detail.json()["number"] == mine["invoice"]["number"]
    assert detail.json()["lines"][0]["total"] == {"amount": "9.99", "currency": "EUR"}
    assert [i["id"] for i in own] == [mine["invoice"]["id"]]
    assert own[0]["status"] == "paid"


def test_another_customers_payment_and_invoice_answer_404(customer_client, sandbox, event_pass):
    theirs = paid_checkout(client_for_customer(CustomerFactory()), event_pass)

    assert customer_client.get(f"/api/v1/me/payments/{theirs['payment']['id']}").status_code == 404
    assert customer_client.get(f"/api/v1/me/invoices/{theirs['invoice']['id']}").status_code == 404
    assert customer_client.get("/api/v1/me/invoices").json()["results"] == []
    assert customer_client.get("/api/v1/me/payments").json()["results"] == []


def test_the_invoice_routes_refuse_a_customer_token(customer_client, sandbox, event_pass):
    mine = paid_checkout(customer_client, event_pass)

    assert customer_client.get("/api/v1/invoices").status_code == 403
    assert customer_client.get(f"/api/v1/invoices/{mine['invoice']['id']}").status_code == 403


# --- Events


def test_a_purchase_writes_attach_invoice_and_payment_events(operator_client, customer_client, sandbox, event_pass):
    body = paid_checkout(customer_client, event_pass)
    payment_id, invoice_id = body["payment"]["id"], body["invoice"]["id"]

    attached = events_of(operator_client, "payment_method.attached")
    created = events_of(operator_client, "invoice.created")
    paid = events_of(operator_client, "invoice.paid")
    succeeded = events_of(operator_client, "payment.succeeded")

    assert [e["type"] for e in attached] == ["payment_method.attached"]
    assert attached[0]["data"]["payment_method"]["last4"] == "4242"
    assert [e["data"]["invoice"]["id"] for e in created] == [invoice_id]
    assert [e["data"]["invoice"]["id"] for e in paid] == [invoice_id]
    assert paid[0]["data"]["invoice"]["number"] == body["invoice"]["number"]
    assert [e["data"]["payment"]["id"] for e in succeeded] == [payment_id]
    assert succeeded[0]["data"]["payment"]["amount"] == {"amount": "9.99", "currency": "EUR"}
    assert succeeded[0]["customer"] == body["invoice"]["customer"]


def test_a_decline_writes_payment_failed(operator_client, customer_client, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000009995"))

    failed = events_of(operator_client, "payment.failed")

    assert len(failed) == 1
    assert failed[0]["data"]["payment"]["decline_code"] == "insufficient_funds"
    assert events_of(operator_client, "payment.succeeded") == []
    assert events_of(operator_client, "invoice.paid") == []


def test_an_authentication_writes_payment_requires_action(operator_client, customer_client, sandbox, event_pass):
    body = buy(customer_client, event_pass, attach_card(customer_client, "4000002760003184")).json()

    events = events_of(operator_client, "payment.requires_action")

    assert [e["data"]["payment"]["id"] for e in events] == [body["payment"]["id"]]
    assert events[0]["data"]["payment"]["status"] == "requires_action"


def test_a_refund_writes_payment_refunded(operator_client, customer_client, sandbox, event_pass):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    refund_id = refund(operator_client, payment_id, amount="1.00").json()["id"]

    events = events_of(operator_client, "payment.refunded")

    assert len(events) == 1
    assert events[0]["data"]["refund"]["id"] == refund_id
    assert events[0]["data"]["refund"]["amount"] == {"amount": "1.00", "currency": "EUR"}
    assert events[0]["data"]["payment"]["status"] == "partially_refunded"


# --- Currencies


def test_a_japanese_customer_pays_in_yen_without_decimals(operator_client, sandbox, event_pass):
    customer = CustomerFactory(country="JP", currency="JPY")
    client = client_for_customer(customer)

    plans = client.get("/api/v1/me/plans").json()["results"]
    body = paid_checkout(client, event_pass)
    payment = client.get(f"/api/v1/me/payments/{body['payment']['id']}").json()
    partial = refund(operator_client, body["payment"]["id"], amount="300")

    assert plans[0]["price"] == {"amount": "700", "currency": "JPY"}
    assert body["payment"]["amount"] == {"amount": "700", "currency": "JPY"}
    assert body["invoice"]["total"] == {"amount": "700", "currency": "JPY"}
    assert payment["amount"] == {"amount": "700", "currency": "JPY"}
    assert payment["fee"] == {"amount": "45", "currency": "JPY"}  # 2.9% of 700 + 25 yen, half-up
    assert partial.status_code == 201, partial.content
    assert partial.json()["amount"] == {"amount": "300", "currency": "JPY"}
    assert SandboxCharge.objects.get().amount == Decimal("700")


def test_a_yen_refund_with_decimals_is_refused(operator_client, sandbox, event_pass):
    client = client_for_customer(CustomerFactory(country="JP", currency="JPY"))
    payment_id = paid_checkout(client, event_pass)["payment"]["id"]

    response = refund(operator_client, payment_id, amount="300.5")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "amount_too_precise"
    assert not Refund.objects.exists()


def test_the_first_payment_fixes_the_customer_currency(operator_client, customer_client, customer, sandbox, event_pass):
    assert customer.currency_fixed_at is None

    body = paid_checkout(customer_client, event_pass)

    customer.refresh_from_db()
    assert customer.currency == "EUR"
    assert customer.currency_fixed_at is not None
    assert customer.currency_fixed_at == Payment.objects.get(pk=body["payment"]["id"]).captured_at
    moved = operator_client.patch(f"/api/v1/customers/{customer.id}", {"country": "JP"}, format="json")
    assert moved.status_code == 200, moved.content
    assert moved.json()["country"] == "JP"
    assert moved.json()["currency"] == "EUR"


def test_before_any_payment_the_currency_follows_the_country(operator_client, customer):
    moved = operator_client.patch(f"/api/v1/customers/{customer.id}", {"country": "JP"}, format="json")

    assert moved.json()["currency"] == "JPY"
    assert Customer.objects.get(pk=customer.id).currency_fixed_at is None


# --- Which payments ask for authentication


def test_a_card_authenticated_once_is_not_asked_again_on_session(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    first = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    APIClient().post(challenge_path(first["payment"]["next_action"]["url"]), {"action": "approve"})

    second = buy(customer_client, event_pass, card, return_url=RETURN_URL)

    assert second.status_code == 201, second.content
    assert second.json()["payment"]["status"] == "succeeded"


def test_a_card_that_failed_authentication_is_asked_again(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    first = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    APIClient().post(challenge_path(first["payment"]["next_action"]["url"]), {"action": "fail"})

    second = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()

    assert second["payment"]["status"] == "requires_action"


def test_a_card_that_always_authenticates_is_asked_every_time(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002760003184")
    first = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    APIClient().post(challenge_path(first["payment"]["next_action"]["url"]), {"action": "approve"})

    second = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()

    assert second["payment"]["status"] == "requires_action"
    assert second["payment"]["next_action"]["url"] != first["payment"]["next_action"]["url"]


def test_a_declined_one_off_purchase_voids_its_invoice_and_keeps_its_number(customer_client, db):
    from payments.models import Invoice
    from payments.services import gateway_account_create
    from plans.tests.factories import PlanFactory

    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    plan = PlanFactory(
        code="pass-void", kind="one_off", interval=None, access_days=1, prices=[{"amount": "3.00", "currency": "EUR"}]
    )
    gateway = customer_client.get("/api/v1/me/gateway").json()
    token = (
        APIClient()
        .post(
            "/sandbox/v1/tokens",
            {
                "publishable_key": gateway["client"]["publishable_key"],
                "card": {"number": "4000000000000002", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            },
            format="json",
        )
        .json()["token"]
    )
    method = customer_client.post(
        "/api/v1/me/payment-methods", {"gateway": account.id, "token": token}, format="json"
    ).json()
    response = customer_client.post(
        "/api/v1/me/checkout", {"plan": plan.id, "payment_method": method["id"]}, format="json"
    )
    assert response.status_code == 402
    invoice = Invoice.objects.get()
    assert invoice.status == Invoice.Status.VOID
    assert invoice.number is not None
