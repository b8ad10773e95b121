"""Webhook endpoints in the admin: the administrator role adds one (its secret shown once), rotates
its secret and replays dead deliveries, all through the services; other roles do not see them."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from conftest import sign_in_verified, staff_in_role
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import event_emit
from integrations.webhooks.services import signing_secrets, webhook_endpoint_create

pytestmark = pytest.mark.django_db
ADD = "/admin/integrations/webhookendpoint/add/"
LIST = "/admin/integrations/webhookendpoint/"


@pytest.fixture
def administrator(client, resolver):
    resolver["hooks.example.com"] = ["93.184.216.34"]
    return sign_in_verified(client, staff_in_role("administrator"))


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_administrator_adds_an_endpoint_and_sees_its_secret_once(administrator):
    answer = administrator.post(
        ADD,
        {
            "url": "https://hooks.example.com/in",
            "enabled_events": "payment.succeeded, subscription.*",
            "description": "",
        },
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.enabled_events == ["payment.succeeded", "subscription.*"]
    shown = [m for m in _messages(answer) if "whsec_" in m]
    assert len(shown) == 1 and endpoint.signing_secret["current"] in shown[0]
    page = administrator.get(f"{LIST}{endpoint.pk}/change/").content.decode()
    assert "whsec_" not in page


def test_a_private_url_is_an_error_on_the_form(administrator, resolver):
    resolver["inside.example.com"] = ["10.0.0.7"]
    answer = administrator.post(ADD, {"url": "https://inside.example.com/", "enabled_events": "*"})
    assert answer.status_code == 200 and "private" in answer.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_rotate_action_asks_then_shows_the_new_secret(administrator):
    old, endpoint = webhook_endpoint_create(url="https://hooks.example.com/in")
    asked = administrator.post(LIST, {"action": "rotate_secret", "_selected_action": [endpoint.pk]})
    assert asked.status_code == 200 and signing_secrets(WebhookEndpoint.objects.get()) == [old]
    done = administrator.post(
        LIST, {"action": "rotate_secret", "_selected_action": [endpoint.pk], "confirm": "yes"}, follow=True
    )
    new = WebhookEndpoint.objects.get().signing_secret["current"]
    assert new != old and any(new in m for m in _messages(done))
    assert signing_secrets(WebhookEndpoint.objects.get()) == [new, old]


def test_dead_deliveries_are_replayed_from_the_admin(administrator):
    webhook_endpoint_create(url="https://hooks.example.com/in")
    event = event_emit(type="plan.created", payload={})
    delivery = WebhookDelivery.objects.get(event=event)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempt=10, next_attempt_at=None)
    administrator.post(
        "/admin/integrations/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt) == ("pending", 0) and delivery.next_attempt_at is not None


def test_other_roles_do_not_see_webhook_endpoints(client):
    sign_in_verified(client, staff_in_role("support"))
    assert client.get(LIST).status_code == 403


def test_an_endpoints_dead_deliveries_since_a_time_are_replayed(administrator):
    _, endpoint = webhook_endpoint_create(url="https://hooks.example.com/in")
    old, recent, alive = (event_emit(type="plan.created", payload={}) for _ in range(3))
    WebhookDelivery.objects.filter(event__in=[old, recent]).update(status="failed", next_attempt_at=None)
    WebhookDelivery.objects.filter(event=old).update(created_at=timezone.now() - timedelta(days=3))
    since = timezone.now() - timedelta(days=1)
    asked = administrator.post(LIST, {"action": "replay_dead", "_selected_action": [endpoint.pk]})
    assert asked.status_code == 200 and "since" in asked.content.decode()
    administrator.post(
        LIST,
        {
            "action": "replay_dead",
            "_selected_action": [endpoint.pk],
            "confirm": "yes",
            "since_0": since.strftime("%Y-%m-%d"),
            "since_1": since.strftime("%H:%M:%S"),
        },
        follow=True,
    )
    statuses = dict(WebhookDelivery.objects.values_list("event_id", "status"))
    assert statuses == {old.id: "failed", recent.id: "pending", alive.id: "pending"}
