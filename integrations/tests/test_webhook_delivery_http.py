"""Deliveries over HTTP to a local receiver that checks every one with the `standardwebhooks`
package: signature and headers, the same webhook-id on every retry, the retry schedule after a 500,
a redirect or a 410, rotation, replay, the SSRF guard at send time, a deleted endpoint, a slow one."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.models import Event, WebhookDelivery, WebhookEndpoint
from integrations.services import event_emit, events_emit
from integrations.tests.webhook_helpers import receiver_running
from integrations.webhooks import sending
from integrations.webhooks.sending import (
    deliveries_claim,
    delivery_post,
    delivery_record,
    webhook_deliveries_send,
)
from integrations.webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True  # the receiver listens on 127.0.0.1
    settings.WEBHOOKS_OPERATOR_EMAIL = "ops@example.com"


def verified(receiver, secret):
    """Every request the receiver got, checked as a receiver would: the parsed bodies."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]


def emit(type_="plan.created", **payload):
    with transaction.atomic():
        return event_emit(type=type_, payload=payload or {"plan": {"id": "pln_1"}})


def make_due(**filters):
    WebhookDelivery.objects.filter(**filters).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_delivery_is_signed_as_standard_webhooks_says_and_recorded():
    with receiver_running() as receiver:
        secret, endpoint = webhook_endpoint_create(url=receiver.url)
        event = emit(plan={"id": "pln_1", "name": "Gold ✓"})
    [body] = verified(receiver, secret)
    assert body == {
        "id": event.id,
        "type": "plan.created",
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": {"plan": {"id": "pln_1", "name": "Gold ✓"}},
    }
    headers = receiver.received[0].headers
    assert headers["webhook-id"] == event.id and headers["content-type"] == "application/json"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt, delivery.response_status) == ("succeeded", 1, 200)
    assert delivery.duration_ms is not None and delivery.response_body == '{"ok": true}'
    assert delivery.endpoint_id == endpoint.id and delivery.next_attempt_at is None


def test_a_batch_of_events_is_delivered_once_each():
    with receiver_running() as receiver:
        secret, _ = webhook_endpoint_create(url=receiver.url, enabled_events=["payment.*"])
        with transaction.atomic():
            events_emit([("payment.succeeded", {"n": n}, "") for n in range(40)] + [("plan.created", {}, "")])
    bodies = verified(receiver, secret)
    assert sorted(b["data"]["n"] for b in bodies) == list(range(40))
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 40
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 40


def test_only_enabled_endpoints_whose_filter_matches_get_a_delivery():
    with receiver_running() as receiver:
        _, wanted = webhook_endpoint_create(url=receiver.url, enabled_events=["subscription.*", "plan.archived"])
        webhook_endpoint_create(url=receiver.url, enabled_events=["payment.failed"])
        _, off = webhook_endpoint_create(url=receiver.url)
        WebhookEndpoint.objects.filter(pk=off.pk).update(status="disabled")
        emit("subscription.renewed")
        emit("plan.archived")
        emit("plan.created")
    assert sorted(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [wanted.id, wanted.id]


def test_a_500_is_retried_with_the_same_webhook_id_after_about_five_seconds():
    with receiver_running(answers=[500]) as receiver:
        secret, _ = webhook_endpoint_create(url=receiver.url)
        before = timezone.now()
        event = emit()
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempt, delivery.response_status) == ("pending", 1, 500)
        wait = (delivery.next_attempt_at - before).total_seconds()
        assert 4.5 - 1 <= wait <= 5.5 + 1  # 5 s ± 10% jitter (and the test's own second)
        assert delivery.response_body == ("nope" * 500)[:1024]
        assert webhook_deliveries_send() == 0  # not due yet
        make_due()
        assert webhook_deliveries_send() == 1
    assert len(verified(receiver, secret)) == 2
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.id, event.id]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt) == ("succeeded", 2)
    assert WebhookEndpoint.objects.get().failing_since is None


def test_the_retry_schedule_is_standard_webhooks_with_jitter():
    for attempt, base in enumerate([5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400], start=1):
        waits = [sending.retry_delay(attempt).total_seconds() for _ in range(50)]
        assert all(base * 0.9 <= w <= base * 1.1 for w in waits)
        assert len(set(waits)) > 1
    assert sending.retry_delay(10) is None


def test_a_delivery_is_dead_after_the_last_retry():
    with receiver_running(default=503) as receiver:
        webhook_endpoint_create(url=receiver.url)
        emit()
        WebhookDelivery.objects.update(attempt=9)
        make_due()
        webhook_deliveries_send()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt, delivery.next_attempt_at) == ("failed", 10, None)


def test_a_redirect_is_a_failure_and_is_not_followed():
    with receiver_running(default=302) as receiver:
        webhook_endpoint_create(url=receiver.url)
        emit()
    assert [r.path for r in receiver.received] == ["/hooks"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_status, delivery.last_error) == ("pending", 302, "redirect")


def test_a_410_disables_the_endpoint_emails_the_operator_and_emits_an_event():
    with receiver_running(default=410) as receiver:
        _, endpoint = webhook_endpoint_create(url=receiver.url)
        emit()
        emit()  # not sent: the endpoint is disabled now
    assert len(receiver.received) == 1
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and "410" in endpoint.disabled_reason
    assert WebhookDelivery.objects.filter(status="failed").count() == 1
    disabled = Event.objects.get(type="webhook_endpoint.disabled")
    assert disabled.payload["webhook_endpoint"]["id"] == endpoint.id
    assert [m.to for m in mail.outbox] == [["ops@example.com"]] and endpoint.id in mail.outbox[0].subject
    assert "whsec_" not in mail.outbox[0].body


def test_five_days_of_failures_disable_the_endpoint():
    with receiver_running(default=500) as receiver:
        _, endpoint = webhook_endpoint_create(url=receiver.url)
        emit()
        assert WebhookEndpoint.objects.get().status == "enabled"  # failing since a moment ago
        WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=5, seconds=1))
        make_due()
        webhook_deliveries_send()
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and "5 days" in endpoint.disabled_reason
    assert Event.objects.filter(type="webhook_endpoint.disabled").count() == 1
    assert len(mail.outbox) == 1


def test_after_a_rotation_both_secrets_verify_for_24_hours_then_only_the_new_one():
    with receiver_running() as receiver:
        old, endpoint = webhook_endpoint_create(url=receiver.url)
        new = webhook_endpoint_rotate_secret(endpoint=endpoint)
        emit()
        assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2
        assert verified(receiver, old) == verified(receiver, new)
        stored = WebhookEndpoint.objects.get().signing_secret
        stored["previous_expires_at"] = (timezone.now() - timedelta(seconds=1)).isoformat()
        WebhookEndpoint.objects.update(signing_secret=stored)
        emit()
    last = receiver.received[-1]
    Webhook(new).verify(last.body, last.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(last.body, last.headers)


def test_a_dead_delivery_is_replayed_through_the_api_with_the_same_webhook_id(operator_client):
    with receiver_running(answers=[410]) as receiver:
        secret, endpoint = webhook_endpoint_create(url=receiver.url)
        event = emit()
        assert WebhookDelivery.objects.get().status == "failed"
        operator_client.patch(f"/api/v1/webhook-endpoints/{endpoint.id}", {"status": "enabled"}, format="json")
        listed = operator_client.get(f"/api/v1/webhook-endpoints/{endpoint.id}/deliveries?status=failed").json()
        assert [d["event"] for d in listed["results"]] == [event.id]
        answer = operator_client.post(f"/api/v1/events/{event.id}/redeliver", {}, format="json")
        assert answer.status_code == 202, answer.content
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.id, event.id]
    assert len(verified(receiver, secret)) == 2
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt) == ("succeeded", 1)
    shown = operator_client.get(f"/api/v1/webhook-endpoints/{endpoint.id}/deliveries").json()["results"][0]
    assert set(shown) == {
        "id", "event", "endpoint", "attempt", "status", "response_status", "duration_ms", "next_attempt_at", "created_at"
    }  # fmt: skip
    assert shown["status"] == "succeeded" and shown["response_status"] == 200


def test_redeliver_to_one_named_endpoint(operator_client):
    with receiver_running() as first, receiver_running() as second:
        webhook_endpoint_create(url=first.url)
        event = emit()
        _, two = webhook_endpoint_create(url=second.url)  # added after the event
        answer = operator_client.post(f"/api/v1/events/{event.id}/redeliver", {"endpoint": two.id}, format="json")
        assert answer.status_code == 202
    assert len(first.received) == 1 and [r.headers["webhook-id"] for r in second.received] == [event.id]


def test_the_address_is_checked_again_at_send_time(settings):
    with receiver_running() as receiver:
        webhook_endpoint_create(url=receiver.url)
        settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False  # as if the name now resolved to a private address
        emit()
    assert receiver.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_error.startswith("url_not_allowed")


def test_deleting_an_endpoint_stops_its_queued_deliveries(operator_client):
    with receiver_running(default=500) as receiver:
        _, endpoint = webhook_endpoint_create(url=receiver.url)
        emit()
        emit()
        assert WebhookDelivery.objects.filter(status="pending").count() == 2
        assert operator_client.delete(f"/api/v1/webhook-endpoints/{endpoint.id}").status_code == 204
        make_due()
        assert webhook_deliveries_send() == 0
    assert len(receiver.received) == 2 and not WebhookDelivery.objects.exists()


def test_an_endpoint_deleted_while_its_delivery_is_in_flight_records_nothing():
    with receiver_running() as receiver:
        _, endpoint = webhook_endpoint_create(url=receiver.url)
        with transaction.atomic():
            event = Event.objects.create(type="plan.created", payload={})
            WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())
        [claimed] = deliveries_claim(room=10)
        webhook_endpoint_delete(endpoint=endpoint)
        import httpx

        with httpx.Client() as client:
            answer = delivery_post(claimed, client=client)
        assert answer.status == 200 and delivery_record(claimed, answer) is None


def test_a_sender_that_died_mid_send_is_replaced_after_its_lease_with_the_same_webhook_id():
    with receiver_running() as receiver:
        secret, endpoint = webhook_endpoint_create(url=receiver.url)
        with transaction.atomic():
            event = Event.objects.create(type="plan.created", payload={})
            WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())
        [claimed] = deliveries_claim(room=10)
        import httpx

        with httpx.Client() as client:
            delivery_post(claimed, client=client)  # sent, then the sender died before recording it
        assert webhook_deliveries_send() == 0  # leased: nobody else sends it meanwhile
        WebhookDelivery.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
        assert webhook_deliveries_send() == 1
        assert delivery_record(claimed, sending.Answer(200, 1, "", "")) is None  # the dead sender's lease is void
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.id, event.id]
    assert len(verified(receiver, secret)) == 2
    assert WebhookDelivery.objects.get().attempt == 1


def test_a_slow_endpoint_does_not_delay_another(settings):
    settings.WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT = 2
    in_flight, most = [0], [0]
    lock = threading.Lock()
    with receiver_running(delay=1.5) as slow, receiver_running() as fast:
        _, slow_endpoint = webhook_endpoint_create(url=slow.url)
        _, fast_endpoint = webhook_endpoint_create(url=fast.url)
        with transaction.atomic():
            # Queued without a send after commit: one sender below does all of it.
            for n in range(6):
                event = Event.objects.create(type="plan.created", payload={"n": n})
                for endpoint in (slow_endpoint, fast_endpoint):
                    WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())
        original = sending.delivery_post

        def counted(claimed, *, client):
            if claimed.endpoint_id != slow_endpoint.id:
                return original(claimed, client=client)
            with lock:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            try:
                return original(claimed, client=client)
            finally:
                with lock:
                    in_flight[0] -= 1

        sending.delivery_post = counted
        try:
            started = time.monotonic()
            assert webhook_deliveries_send() == 12
        finally:
            sending.delivery_post = original
    # Every fast delivery arrived before the first slow answer came back (1.5 s after it was sent).
    first_slow_answer = min(r.at for r in slow.received) + 1.5
    assert len(fast.received) == 6 and max(r.at for r in fast.received) < first_slow_answer
    assert most[0] == 2  # the slow endpoint never had more than its share in flight
    assert time.monotonic() - started >= 3 * 1.5  # 6 slow deliveries, 2 at a time
    assert json.loads(fast.received[0].body)["type"] == "plan.created"
