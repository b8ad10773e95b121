"""Payments and refunds left without an answer (timeouts, lost responses, abandoned 3-D Secure) are
reconciled with the gateway by the scheduled sweep, never charged or refunded a second time."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import Event
from payments import tasks
from payments.gateways.sandbox.gateway import SandboxGateway, sandbox_challenge_complete
from payments.gateways.sandbox.models import SandboxCharge, SandboxRefund
from payments.models import CustomerToken, Invoice, Payment, PaymentAttempt, Payout, Refund
from payments.services import (
    gateway_account_create,
    payment_cancel,
    payment_refund,
    payments_reconcile,
    refunds_reconcile,
)
from plans.models import Access
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


def attach_card(client, sandbox, number="4242424242424242"):
    token = APIClient().post(
        "/sandbox/v1/tokens",
        {
            "publishable_key": sandbox.credentials["publishable_key"],
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        },
        format="json",
    )
    assert token.status_code == 201, token.content
    response = client.post(
        "/api/v1/me/payment-methods", {"gateway": sandbox.id, "token": token.json()["token"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def checkout(client, plan, card, **extra):
    response = client.post(
        "/api/v1/me/checkout", {"plan": plan.id, "payment_method": card["id"], **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def entitled(client) -> bool:
    return client.get("/api/v1/me/entitlements").json()["entitled"]


def later(minutes=10):
    return timezone.now() + timedelta(minutes=minutes)


@pytest.fixture
def charge_times_out_after_the_gateway_charged(monkeypatch):
    real_charge = SandboxGateway.charge

    def charge(self, request):
        real_charge(self, request)
        raise TimeoutError("read timed out")

    monkeypatch.setattr(SandboxGateway, "charge", charge)


@pytest.fixture
def charge_times_out_before_the_gateway_got_it(monkeypatch):
    def charge(self, request):
        raise TimeoutError("connect timed out")

    monkeypatch.setattr(SandboxGateway, "charge", charge)


# --- A lost answer: the sandbox's processing-error card


def test_a_lost_answer_leaves_the_payment_processing_and_grants_nothing_yet(customer_client, sandbox, event_pass):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000000000000119"))

    assert body["payment"]["status"] == "processing"
    assert body["payment"]["next_action"] is None
    assert body["invoice"]["status"] == "open"
    assert body["subscription"]["status"] == "pending"
    assert entitled(customer_client) is False
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.SUCCEEDED
    attempt = PaymentAttempt.objects.get()
    assert (attempt.outcome, attempt.completed_at) == ("unknown", None)


def test_reconcile_settles_a_lost_answer_without_charging_again(customer_client, customer, sandbox, event_pass):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000000000000119"))

    counts = payments_reconcile(as_of=later())

    payment = Payment.objects.get(pk=body["payment"]["id"])
    assert counts["synced"] == 1
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.gateway_reference == SandboxCharge.objects.get().id
    assert payment.captured_at is not None
    assert payment.fee is not None
    assert SandboxCharge.objects.count() == 1
    assert Invoice.objects.get().status == Invoice.Status.PAID
    assert Access.objects.get().status == Access.Status.ACTIVE
    assert entitled(customer_client) is True
    customer.refresh_from_db()
    assert customer.currency_fixed_at is not None


def test_reconcile_leaves_a_payment_that_just_started_alone(customer_client, sandbox, event_pass):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000000000000119"))

    counts = payments_reconcile()

    assert counts == {"synced": 0, "canceled": 0, "refunded": 0}
    assert Payment.objects.get(pk=body["payment"]["id"]).status == Payment.Status.PROCESSING


# --- A timeout after the gateway charged


def test_a_timeout_after_the_gateway_charged_is_reconciled_to_succeeded(
    customer_client, sandbox, event_pass, charge_times_out_after_the_gateway_charged
):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox))
    assert body["payment"]["status"] == "processing"
    assert entitled(customer_client) is False

    payments_reconcile(as_of=later())

    assert Payment.objects.get(pk=body["payment"]["id"]).status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.count() == 1
    assert entitled(customer_client) is True


def test_a_checkout_retried_after_a_timeout_does_not_charge_again(
    customer_client, sandbox, event_pass, charge_times_out_after_the_gateway_charged
):
    card = attach_card(customer_client, sandbox)
    body = {"plan": event_pass.id, "payment_method": card["id"]}
    first = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    second = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    payments_reconcile(as_of=later())

    assert second.content == first.content
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED


# --- A timeout before the gateway got the request


def test_a_timeout_before_the_gateway_got_the_request_is_reconciled_to_failed(
    customer_client, sandbox, event_pass, charge_times_out_before_the_gateway_got_it
):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox))
    assert body["payment"]["status"] == "processing"

    payments_reconcile(as_of=later())

    payment = Payment.objects.get(pk=body["payment"]["id"])
    assert payment.status == Payment.Status.FAILED
    assert payment.decline_code == "processing_error"
    assert payment.captured_at is None
    assert not SandboxCharge.objects.exists()
    assert Access.objects.get().status == Access.Status.FAILED
    assert Invoice.objects.get().status == Invoice.Status.VOID  # a failed one-off purchase voids its invoice
    assert entitled(customer_client) is False
    assert Event.objects.filter(type="payment.failed").count() == 1


# --- Reconcile is safe to run twice


def test_reconcile_twice_changes_nothing_the_second_time(customer_client, sandbox, event_pass):
    checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000000000000119"))
    payments_reconcile(as_of=later())
    payments = list(Payment.objects.values())
    accesses = list(Access.objects.values())
    events = Event.objects.count()

    counts = payments_reconcile(as_of=later(20))

    assert counts == {"synced": 0, "canceled": 0, "refunded": 0}
    assert list(Payment.objects.values()) == payments
    assert list(Access.objects.values()) == accesses
    assert Event.objects.count() == events
    assert SandboxCharge.objects.count() == 1


def test_reconcile_twice_after_a_failed_lookup_changes_nothing(
    customer_client, sandbox, event_pass, charge_times_out_before_the_gateway_got_it
):
    checkout(customer_client, event_pass, attach_card(customer_client, sandbox))
    payments_reconcile(as_of=later())
    payments = list(Payment.objects.values())

    payments_reconcile(as_of=later(20))

    assert list(Payment.objects.values()) == payments
    assert not SandboxCharge.objects.exists()


# --- Abandoned 3-D Secure


def _age(payment_id: str, hours: float):
    then = timezone.now() - timedelta(hours=hours)
    Payment.objects.filter(pk=payment_id).update(created_at=then, updated_at=then)


def test_reconcile_cancels_an_authentication_left_for_more_than_23_hours(
    operator_client, customer_client, sandbox, event_pass
):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000002760003184"))
    _age(body["payment"]["id"], hours=24)

    counts = payments_reconcile()

    payment = Payment.objects.get(pk=body["payment"]["id"])
    assert counts["canceled"] == 1
    assert payment.status == Payment.Status.CANCELED
    assert payment.next_action_url == ""
    assert Access.objects.get().status == Access.Status.FAILED
    assert entitled(customer_client) is False
    canceled = operator_client.get("/api/v1/events", {"type": "payment.canceled"}).json()["results"]
    assert [e["data"]["payment"]["id"] for e in canceled] == [payment.id]
    assert customer_client.get(f"/api/v1/me/payments/{payment.id}").json()["next_action"] is None


def test_reconcile_leaves_a_recent_authentication_waiting(customer_client, sandbox, event_pass):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000002760003184"))
    _age(body["payment"]["id"], hours=22)

    counts = payments_reconcile()

    assert counts["canceled"] == 0
    assert Payment.objects.get(pk=body["payment"]["id"]).status == Payment.Status.REQUIRES_ACTION
    assert Access.objects.get().status == Access.Status.PENDING


def test_reconcile_settles_an_authentication_approved_whose_return_never_came(customer_client, sandbox, event_pass):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000002760003184"))
    SandboxCharge.objects.update(status=SandboxCharge.Status.SUCCEEDED)  # approved; the browser never came back
    _age(body["payment"]["id"], hours=24)

    counts = payments_reconcile()

    assert counts["canceled"] == 0
    assert Payment.objects.get(pk=body["payment"]["id"]).status == Payment.Status.SUCCEEDED
    assert entitled(customer_client) is True


def test_a_challenge_answered_after_the_payment_was_canceled_takes_no_money(customer_client, sandbox, event_pass):
    body = checkout(
        customer_client,
        event_pass,
        attach_card(customer_client, sandbox, "4000002760003184"),
        return_url="https://app.example.com/done",
    )
    _age(body["payment"]["id"], hours=24)
    payments_reconcile()
    path = urlsplit(body["payment"]["next_action"]["url"]).path

    late = APIClient().post(path, {"action": "approve"})

    assert late.status_code in (200, 302)
    charge = SandboxCharge.objects.get()
    payment = Payment.objects.get(pk=body["payment"]["id"])
    # What must hold: money taken <=> payment succeeded. A canceled payment took none.
    assert charge.status != SandboxCharge.Status.SUCCEEDED
    assert payment.status == Payment.Status.CANCELED
    assert Access.objects.get().status == Access.Status.FAILED
    assert entitled(customer_client) is False


def test_canceling_a_payment_the_customer_just_authenticated_settles_it_instead(customer_client, sandbox, event_pass):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000002760003184"))
    sandbox_challenge_complete(charge_id=SandboxCharge.objects.get().id, approve=True)  # the return is still on its way

    payment = payment_cancel(payment=Payment.objects.get(pk=body["payment"]["id"]))

    assert payment.status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.SUCCEEDED
    assert not Event.objects.filter(type="payment.canceled").exists()
    assert entitled(customer_client) is True


# --- The django-q2 entry points


def test_payments_reconcile_task_settles_a_stale_processing_payment(customer_client, sandbox, event_pass):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox, "4000000000000119"))
    Payment.objects.filter(pk=body["payment"]["id"]).update(updated_at=timezone.now() - timedelta(minutes=10))

    counts = tasks.payments_reconcile()

    assert counts == {"synced": 1, "canceled": 0, "refunded": 0}
    assert Payment.objects.get(pk=body["payment"]["id"]).status == Payment.Status.SUCCEEDED
    assert SandboxCharge.objects.count() == 1


def test_refunds_reconcile_task_settles_a_refund_whose_answer_was_lost(
    customer_client, sandbox, event_pass, monkeypatch
):
    body = checkout(customer_client, event_pass, attach_card(customer_client, sandbox))
    real_refund = SandboxGateway.refund

    def refund_then_time_out(self, **kwargs):
        real_refund(self, **kwargs)
        raise TimeoutError("read timed out")

    monkeypatch.setattr(SandboxGateway, "refund", refund_then_time_out)
    refund = payment_refund(payment=Payment.objects.get(pk=body["payment"]["id"]))
    monkeypatch.undo()
    assert refund.status == Refund.Status.PENDING
    assert entitled(customer_client) is True
    Refund.objects.update(updated_at=timezone.now() - timedelta(minutes=10))

    assert tasks.refunds_reconcile() == 1

    refund.refresh_from_db()
    payment = Payment.objects.get(pk=body["payment"]["id"])
    assert refund.status == Refund.Status.SUCCEEDED
    assert payment.status == Payment.Status.REFUNDED
    assert payment.amount_refunded == Decimal("9.99")
    assert SandboxRefund.objects.count() == 1
    assert entitled(customer_client) is False
    assert refunds_reconcile() == 0


def test_customer_tokens_purge_task_deletes_long_expired_tokens(customer_client, customer):
    CustomerToken.objects.create(customer=customer, token_hash="0" * 64, expires_at=timezone.now() - timedelta(days=2))

    assert tasks.customer_tokens_purge() == 1
    assert CustomerToken.objects.count() == 1


def test_payouts_task_pays_out_settled_payments(customer_client, sandbox, event_pass):
    checkout(customer_client, event_pass, attach_card(customer_client, sandbox))
    Payment.objects.update(captured_at=timezone.now() - timedelta(days=3))

    assert tasks.payouts_create_sandbox() == 1
    assert tasks.payouts_create_sandbox() == 0
    assert Payout.objects.get().payments.count() == 1


def test_a_charge_completed_after_its_invoice_was_voided_is_refunded_not_kept(
    customer_client, django_capture_on_commit_callbacks
):
    from payments.services import invoice_void

    gateway = gateway_account_create(provider="sandbox", display_name="Sandbox")
    plan = PlanFactory(
        code="pass-void", kind="one_off", interval=None, access_days=1, prices=[{"amount": "3.00", "currency": "EUR"}]
    )
    card = attach_card(customer_client, gateway, "4000002760003184")
    body = checkout(customer_client, plan, card, return_url="https://app.example.com/back")
    assert body["payment"]["status"] == "requires_action"
    invoice_void(invoice=Invoice.objects.get())

    with django_capture_on_commit_callbacks(execute=True):
        APIClient().post(urlsplit(body["payment"]["next_action"]["url"]).path, {"action": "approve"})

    payment = Payment.objects.get()
    assert payment.status == Payment.Status.REFUNDED
    assert Invoice.objects.get().status == Invoice.Status.VOID
    assert entitled(customer_client) is False
