"""The Idempotency-Key rules of API.md, for every POST."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.kernel.api_keys import api_key_create
from integrations.kernel.models import IdempotencyKey
from integrations.tasks import idempotency_keys_purge
from payments import services as payment_services
from payments.models import Customer

BODY = {"external_id": "idem-1", "email": "idem@example.com", "country": "DE"}


def post(client, body=BODY, key="key-1", path="/api/v1/customers"):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_the_first_response_byte_for_byte(operator_client):
    first = post(operator_client)
    second = post(operator_client)
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


def test_replayed_error_is_the_stored_error_not_a_new_attempt(operator_client):
    bad = {**BODY, "country": "XX"}
    first = post(operator_client, bad)
    assert first.status_code == 400
    second = post(operator_client, bad)
    assert second.status_code == 400
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"


def test_same_key_with_another_body_answers_422(operator_client):
    post(operator_client)
    response = post(operator_client, {**BODY, "email": "other@example.com"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert Customer.objects.get().email == "idem@example.com"


def test_same_key_on_another_path_answers_422(operator_client, customer):
    post(operator_client)
    response = post(operator_client, {}, path=f"/api/v1/customers/{customer.id}/tokens")
    assert response.status_code == 422


def test_keys_are_scoped_to_the_credential(operator_client, db):
    post(operator_client)
    other_raw, _ = api_key_create(name="other")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_raw}")
    response = post(other, {**BODY, "external_id": "idem-2"})
    assert response.status_code == 201
    assert Customer.objects.count() == 2


def test_a_request_without_the_header_is_not_deduplicated(operator_client):
    operator_client.post("/api/v1/customers", BODY, format="json")
    response = operator_client.post("/api/v1/customers", BODY, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "customer_exists"


def test_a_key_longer_than_255_characters_is_refused(operator_client):
    response = post(operator_client, key="k" * 256)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert Customer.objects.count() == 0


def test_unauthenticated_requests_store_nothing(anon_client, db):
    response = post(anon_client)
    assert response.status_code == 401
    assert IdempotencyKey.objects.count() == 0


def test_a_server_error_is_not_stored_so_the_retry_runs(operator_client, monkeypatch):
    real_create = payment_services.customer_create
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return real_create(**kwargs)

    monkeypatch.setattr("payments.api.views.services.customer_create", flaky)
    assert post(operator_client).status_code == 500
    retry = post(operator_client)
    assert retry.status_code == 201
    assert Customer.objects.count() == 1


def test_a_key_older_than_24_hours_starts_afresh(operator_client):
    post(operator_client)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = post(operator_client, {**BODY, "external_id": "idem-later"})
    assert response.status_code == 201
    assert Customer.objects.count() == 2


def test_purge_task_deletes_only_expired_keys(operator_client):
    post(operator_client)
    post(operator_client, {**BODY, "external_id": "idem-2"}, key="key-2")
    IdempotencyKey.objects.filter(key="key-1").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["key-2"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_concurrent_request_with_a_key_in_flight_answers_409(api_key, monkeypatch):
    inside, release = threading.Event(), threading.Event()
    real_create = payment_services.customer_create

    def slow_create(**kwargs):
        inside.set()
        assert release.wait(timeout=30)
        return real_create(**kwargs)

    monkeypatch.setattr("payments.api.views.services.customer_create", slow_create)
    results = {}

    def send(name):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
            results[name] = post(client)
        finally:
            connection.close()

    first = threading.Thread(target=send, args=("first",))
    first.start()
    assert inside.wait(timeout=30)
    second = threading.Thread(target=send, args=("second",))
    second.start()
    second.join(timeout=30)
    release.set()
    first.join(timeout=30)

    assert results["second"].status_code == 409
    assert results["second"].json()["error"]["code"] == "idempotency_key_in_progress"
    assert results["first"].status_code == 201
    assert Customer.objects.count() == 1
    replay = APIClient()
    replay.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert post(replay).content == results["first"].content
