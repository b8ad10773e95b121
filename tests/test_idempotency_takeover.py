"""A request whose process died holding its Idempotency-Key: past the lease a retry takes the key
over, and a checkout that had already made its purchase is resumed, never made twice."""

import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from coupons.models import CodeGeneration, CouponCode
from integrations.kernel.models import IdempotencyKey
from payments.models import Customer, Invoice, Payment
from plans.models import Access, Subscription
from tests.payments_helpers import attach_card

CHECKOUT = importlib.import_module("plans.services.checkout")  # the module: the package exports its function
BODY = {"external_id": "takeover-1", "email": "takeover@example.com", "country": "DE"}


class ProcessDied(BaseException):
    """Stands for a SIGKILL mid-request: not an Exception, so nothing answers it."""


def die(**kwargs):
    raise ProcessDied


def checkout_killed_before_its_charge(client, plan, key: str, monkeypatch) -> dict:
    """A checkout whose process dies once the purchase is committed, before the card is charged."""
    card = attach_card(client)
    body = {"plan": plan.id, "payment_method": card["id"]}
    with monkeypatch.context() as patch:
        patch.setattr(CHECKOUT, "invoice_pay", die)
        with pytest.raises(ProcessDied):
            client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    return body


def left_in_flight(key: str, *, lease_left: timedelta) -> None:
    """The row as a process leaves it when it dies: in flight, no answer stored."""
    IdempotencyKey.objects.filter(key=key).update(
        state=IdempotencyKey.State.IN_FLIGHT,
        status_code=None,
        content_type="",
        body=None,
        leased_until=timezone.now() + lease_left,
    )


def test_a_route_that_cannot_resume_keeps_a_dead_key_refused(operator_client):
    """Creating a customer commits in one step: a run killed after it may have done it without
    answering, so it is never run again under that key."""
    assert operator_client.post("/api/v1/customers", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    left_in_flight("k", lease_left=-timedelta(minutes=5))
    retried = operator_client.post("/api/v1/customers", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert retried.status_code == 409
    assert retried.json()["error"]["code"] == "idempotency_key_in_progress"
    assert Customer.objects.count() == 1


def test_another_body_under_a_dead_key_is_still_refused(customer_client, sandbox, event_pass):
    card = attach_card(customer_client)
    body = {"plan": event_pass.id, "payment_method": card["id"]}
    customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    left_in_flight("k", lease_left=-timedelta(seconds=1))
    other = customer_client.post(
        "/api/v1/me/checkout", {**body, "coupon": "OTHER"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_pass_checkout_that_died_before_its_charge_is_charged_once_on_retry(
    customer_client, customer, sandbox, event_pass, monkeypatch
):
    body = checkout_killed_before_its_charge(customer_client, event_pass, "buy-1", monkeypatch)
    assert Access.objects.filter(customer=customer).count() == 1  # the purchase was committed
    assert not Payment.objects.filter(customer=customer).exists()

    retried = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert retried.status_code == 201, retried.content
    assert retried.json()["payment"]["status"] == "succeeded"
    access = Access.objects.get(customer=customer)
    assert retried.json()["subscription"]["id"] == access.id
    assert Payment.objects.filter(customer=customer).count() == 1
    assert Invoice.objects.filter(customer=customer).count() == 1


def test_a_pass_checkout_that_died_after_its_charge_answers_that_purchase(
    customer_client, customer, sandbox, event_pass
):
    card = attach_card(customer_client)
    body = {"plan": event_pass.id, "payment_method": card["id"]}
    first = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="buy-2")
    assert first.status_code == 201
    left_in_flight("buy-2", lease_left=timedelta(seconds=30))  # charged, then killed before the answer
    waiting = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="buy-2")
    assert waiting.status_code == 409  # within the lease it may still be running
    IdempotencyKey.objects.update(leased_until=timezone.now() - timedelta(seconds=1))

    retried = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="buy-2")
    assert retried.status_code == 201, retried.content
    assert "Idempotent-Replayed" not in retried
    assert retried.json()["subscription"]["id"] == first.json()["subscription"]["id"]
    assert retried.json()["payment"]["id"] == first.json()["payment"]["id"]
    assert Payment.objects.filter(customer=customer).count() == 1
    assert Access.objects.filter(customer=customer).count() == 1


def test_a_subscription_checkout_that_died_before_its_charge_starts_once(
    customer_client, customer, sandbox, monthly, monkeypatch
):
    body = checkout_killed_before_its_charge(customer_client, monthly, "sub-1", monkeypatch)

    retried = customer_client.post("/api/v1/me/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")
    assert retried.status_code == 201, retried.content
    subscription = Subscription.objects.get(customer=customer)
    assert retried.json()["subscription"]["id"] == subscription.id
    assert subscription.status == Subscription.Status.ACTIVE
    assert Payment.objects.filter(customer=customer, status=Payment.Status.SUCCEEDED).count() == 1


def test_a_code_generation_that_died_before_its_answer_is_answered_not_made_again(operator_client, monkeypatch):
    from coupons.services import coupon_create

    monkeypatch.setattr("coupons.services.generation.async_task", lambda *args, **kwargs: None)
    campaign = coupon_create(
        name="Dead", kind="bulk", code_template="DEAD-********", discount={"type": "percent", "percent_off": "5"}
    )
    path = f"/api/v1/coupons/{campaign.id}/codes"
    for count, key in ((500, "inline"), (20_000, "queued")):
        first = operator_client.post(path, {"count": count}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert first.status_code in (201, 202)
        left_in_flight(key, lease_left=-timedelta(seconds=1))
        retried = operator_client.post(path, {"count": count}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert (retried.status_code, retried.json()) == (first.status_code, first.json())
    assert CouponCode.objects.filter(coupon=campaign).count() == 500
    assert CodeGeneration.objects.filter(coupon=campaign).count() == 1
