"""Webhook endpoints over the API (API.md "Webhook endpoints"): the secret in the POST answer only,
encrypted at rest; https only; private destinations refused; filters checked; rotation; scope."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import audit_text
from integrations.kernel.api_keys import api_key_create
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import event_emit
from integrations.tests.webhook_helpers import secret_bytes
from integrations.webhooks.services import signing_secrets

pytestmark = pytest.mark.django_db
URL = "https://hooks.example.com/in"


@pytest.fixture
def public(resolver):
    resolver["hooks.example.com"] = ["93.184.216.34"]
    return resolver


def _create(client, **body):
    return client.post("/api/v1/webhook-endpoints", {"url": URL, **body}, format="json")


def test_create_answers_the_secret_once_and_keeps_it_encrypted(operator_client, public):
    created = _create(operator_client, enabled_events=["payment.succeeded", "subscription.*"], description="CRM")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["id"].startswith("whe_")
    assert body["enabled_events"] == ["payment.succeeded", "subscription.*"]
    assert body["status"] == "enabled" and body["disabled_reason"] is None
    assert 24 <= len(secret_bytes(body["secret"])) <= 64
    read = operator_client.get(f"/api/v1/webhook-endpoints/{body['id']}").json()
    assert "secret" not in read and read["url"] == URL
    listed = operator_client.get("/api/v1/webhook-endpoints").json()
    assert [e["id"] for e in listed["results"]] == [body["id"]] and "secret" not in listed["results"][0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM integrations_webhookendpoint")
        (raw,) = cursor.fetchone()
    assert body["secret"] not in raw and "whsec_" not in raw
    assert "whsec_" not in audit_text() and "webhook_endpoint.created" in audit_text()


def test_events_default_to_every_event(operator_client, public):
    assert _create(operator_client).json()["enabled_events"] == ["*"]


@pytest.mark.parametrize(
    ("events", "param"),
    [
        (["paymnet.succeeded"], "enabled_events[0]"),
        (["*", 3], "enabled_events[1]"),
        (["payment"], "enabled_events[0]"),
        ([], "enabled_events"),
        ("*", "enabled_events"),
    ],
)
def test_unknown_event_types_are_refused(operator_client, public, events, param):
    answer = _create(operator_client, enabled_events=events)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "169.254.169.254", "::1", "fd00::1", "100.64.0.1", "0.0.0.0"]
)
def test_urls_resolving_to_private_addresses_are_refused(operator_client, resolver, address):
    resolver["hooks.example.com"] = ["93.184.216.34", address]  # one bad address is enough
    answer = _create(operator_client)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "url_not_allowed"
    assert answer.json()["error"]["param"] == "url"


def test_an_ip_literal_on_a_private_network_is_refused(operator_client, resolver):
    answer = operator_client.post("/api/v1/webhook-endpoints", {"url": "https://127.0.0.1:8443/x"}, format="json")
    assert answer.json()["error"]["code"] == "url_not_allowed"


def test_private_networks_are_allowed_when_the_setting_is_on(operator_client, resolver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    answer = operator_client.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/x"}, format="json")
    assert answer.status_code == 201


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x", "http://[fd00:ec2::254]/", "http://0.0.0.0/"],
)
def test_metadata_and_link_local_addresses_are_refused_even_when_private_networks_are_allowed(
    operator_client, resolver, settings, target
):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    answer = operator_client.post("/api/v1/webhook-endpoints", {"url": target}, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "url_not_allowed"


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/in", "ftp://hooks.example.com/", "https://user:pw@hooks.example.com/", "hooks"]
)
def test_plain_http_and_malformed_urls_are_refused(operator_client, public, url):
    answer = operator_client.post("/api/v1/webhook-endpoints", {"url": url}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_invalid",
        "message": answer.json()["error"]["message"],
        "param": "url",
    }


def test_a_host_that_does_not_resolve_is_refused(operator_client, resolver):
    answer = operator_client.post("/api/v1/webhook-endpoints", {"url": "https://nowhere.invalid/"}, format="json")
    assert answer.json()["error"]["code"] == "url_not_allowed"


def test_patch_changes_only_what_is_sent_and_checks_the_url(operator_client, public):
    endpoint = _create(operator_client).json()
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    answer = operator_client.patch(path, {"description": "Support desk", "status": "disabled"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["description"] == "Support desk" and answer.json()["status"] == "disabled"
    assert answer.json()["disabled_reason"] and answer.json()["url"] == URL
    enabled = operator_client.patch(path, {"status": "enabled"}, format="json").json()
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None
    refused = operator_client.patch(path, {"url": "https://10.0.0.1/"}, format="json")
    assert refused.json()["error"]["code"] == "url_not_allowed"
    assert WebhookEndpoint.objects.get().url == URL


def test_delete_removes_the_endpoint(operator_client, public):
    endpoint = _create(operator_client).json()
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    assert operator_client.delete(path).status_code == 204
    assert operator_client.get(path).status_code == 404


def test_rotation_keeps_the_old_secret_for_24_hours(operator_client, public):
    created = _create(operator_client).json()
    rotated = operator_client.post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != created["secret"] and new.startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get()
    assert signing_secrets(endpoint) == [new, created["secret"]]
    assert signing_secrets(endpoint, now=timezone.now() + timedelta(hours=23, minutes=59)) == [new, created["secret"]]
    assert signing_secrets(endpoint, now=timezone.now() + timedelta(hours=24, seconds=1)) == [new]
    assert "whsec_" not in audit_text()


def test_writes_need_the_webhooks_scope(public):
    raw, _ = api_key_create(name="reader", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = _create(client)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "insufficient_scope"
    assert client.get("/api/v1/webhook-endpoints").status_code == 200
    raw, _ = api_key_create(name="hooks", scopes=["webhooks:write"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert _create(client).status_code == 201


def test_an_unknown_endpoint_is_404(operator_client):
    answer = operator_client.get("/api/v1/webhook-endpoints/whe_nope")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "resource_missing"


def test_redeliver_answers_404_for_an_unknown_event_and_409_for_a_disabled_endpoint(operator_client, public):
    assert operator_client.post("/api/v1/events/evt_nope/redeliver", {}, format="json").status_code == 404
    event = event_emit(type="plan.created", payload={})
    nobody = operator_client.post(f"/api/v1/events/{event.id}/redeliver", {}, format="json")
    assert nobody.status_code == 409 and nobody.json()["error"]["code"] == "no_webhook_endpoint"
    endpoint = _create(operator_client).json()
    operator_client.patch(f"/api/v1/webhook-endpoints/{endpoint['id']}", {"status": "disabled"}, format="json")
    answer = operator_client.post(f"/api/v1/events/{event.id}/redeliver", {"endpoint": endpoint["id"]}, format="json")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "webhook_endpoint_disabled"
    bad = operator_client.post(f"/api/v1/events/{event.id}/redeliver", {"endpoint": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "endpoint"


def test_deliveries_are_listed_per_endpoint_and_filtered_by_status(operator_client, public):
    endpoint = _create(operator_client).json()
    first = event_emit(type="plan.created", payload={})
    event_emit(type="plan.updated", payload={})
    WebhookDelivery.objects.filter(event=first).update(status="failed")
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    assert len(operator_client.get(path).json()["results"]) == 2
    dead = operator_client.get(f"{path}?status=failed").json()["results"]
    assert [d["event"] for d in dead] == [first.id] and dead[0]["id"].startswith("whd_")
    assert operator_client.get(f"{path}?status=dead").status_code == 400
