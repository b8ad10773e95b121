"""The API's one error format, for every kind of failure: parsing, routing, size, method, throttling, crashes."""

import json

import pytest
from django.core.cache import cache
from django.test import override_settings

from integrations.kernel.api.throttling import CredentialRateThrottle
from integrations.models import Event
from payments.models import Customer
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers"
VALID_CUSTOMER = {"external_id": "ext-1", "email": "ada@example.com", "country": "DE"}


def assert_error(response, status: int, type_: str, code: str | None = None) -> dict:
    """The response is exactly `{"error": {type, code, message, param}}` with this status and type."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["type"] == type_
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["param"] is None or isinstance(error["param"], str)
    if code is not None:
        assert error["code"] == code
    return error


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


# --- the shape, across the statuses the API answers with


def test_validation_error_has_exactly_the_error_shape(operator_client):
    response = operator_client.post(CUSTOMERS, {"external_id": "x", "country": "DE"}, format="json")

    error = assert_error(response, 400, "invalid_request_error", "parameter_missing")
    assert error["param"] == "email"


def test_domain_conflict_has_exactly_the_error_shape(operator_client):
    CustomerFactory(external_id="ext-1")

    response = operator_client.post(CUSTOMERS, VALID_CUSTOMER, format="json")

    error = assert_error(response, 409, "invalid_request_error", "customer_exists")
    assert error["param"] == "external_id"


def test_not_found_has_exactly_the_error_shape(operator_client):
    response = operator_client.get(f"{CUSTOMERS}/cus_missing")

    error = assert_error(response, 404, "invalid_request_error", "resource_missing")
    assert error["param"] is None


def test_missing_credential_has_exactly_the_error_shape(anon_client):
    assert_error(anon_client.get(CUSTOMERS), 401, "authentication_error", "not_authenticated")


def test_invalid_credential_has_exactly_the_error_shape(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer mmk_not-a-real-key")

    assert_error(anon_client.get(CUSTOMERS), 401, "authentication_error", "invalid_credentials")


def test_wrong_credential_kind_has_exactly_the_error_shape(operator_client):
    assert_error(operator_client.get("/api/v1/me"), 403, "permission_error", "customer_token_required")


# --- request bodies


def test_malformed_json_body_answers_400_invalid_json(operator_client):
    response = operator_client.post(CUSTOMERS, data='{"external_id": "ext-1",', content_type="application/json")

    error = assert_error(response, 400, "invalid_request_error", "invalid_json")
    assert error["param"] is None


def test_malformed_json_body_writes_nothing(operator_client):
    operator_client.post(CUSTOMERS, data='{"external_id": "ext-1",', content_type="application/json")

    assert Customer.objects.count() == 0
    assert Event.objects.count() == 0


def test_malformed_json_on_patch_answers_400_invalid_json(operator_client):
    customer = CustomerFactory()

    response = operator_client.patch(f"{CUSTOMERS}/{customer.id}", data="{nope", content_type="application/json")

    assert_error(response, 400, "invalid_request_error", "invalid_json")


def test_json_array_body_answers_400(operator_client):
    response = operator_client.post(CUSTOMERS, data="[1, 2]", content_type="application/json")

    assert_error(response, 400, "invalid_request_error")
    assert Customer.objects.count() == 0


def test_plain_text_body_answers_415(operator_client):
    response = operator_client.post(CUSTOMERS, data="external_id=ext-1", content_type="text/plain")

    assert_error(response, 415, "invalid_request_error", "unsupported_media_type")
    assert Customer.objects.count() == 0


def test_form_encoded_body_answers_415(operator_client):
    response = operator_client.post(
        CUSTOMERS, data="external_id=ext-1&email=a%40b.c&country=DE", content_type="application/x-www-form-urlencoded"
    )

    assert_error(response, 415, "invalid_request_error")
    assert Customer.objects.count() == 0


@override_settings(API_MAX_BODY_BYTES=64)
def test_body_over_the_limit_answers_413_request_too_large(operator_client):
    body = {**VALID_CUSTOMER, "name": "x" * 200}

    response = operator_client.post(CUSTOMERS, body, format="json")

    assert_error(response, 413, "invalid_request_error", "request_too_large")
    assert Customer.objects.count() == 0


@override_settings(API_MAX_BODY_BYTES=64)
def test_body_over_the_limit_answers_413_even_without_credential(anon_client):
    response = anon_client.post(CUSTOMERS, {"name": "x" * 200}, format="json")

    assert_error(response, 413, "invalid_request_error", "request_too_large")


@override_settings(API_MAX_BODY_BYTES=200)
def test_body_under_the_limit_is_accepted(operator_client):
    response = operator_client.post(CUSTOMERS, VALID_CUSTOMER, format="json")

    assert response.status_code == 201


# --- routes and methods


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/customers/cus_x/nothing", "/api/v1/me/nothing"])
def test_unknown_route_answers_404_json(operator_client, path):
    error = assert_error(operator_client.get(path), 404, "invalid_request_error", "resource_missing")
    assert error["param"] is None


@override_settings(DEBUG=True)
def test_unknown_route_answers_404_json_with_debug_on(operator_client):
    response = operator_client.get("/api/v1/nothing-here")

    assert_error(response, 404, "invalid_request_error", "resource_missing")
    assert b"<html" not in response.content.lower()


@override_settings(DEBUG=True)
def test_unknown_route_post_answers_404_json_with_debug_on(operator_client):
    response = operator_client.post("/api/v1/nothing-here", {"a": 1}, format="json")

    assert_error(response, 404, "invalid_request_error", "resource_missing")


def test_unknown_route_answers_404_json_without_credential(anon_client):
    assert_error(anon_client.get("/api/v1/nothing-here"), 404, "invalid_request_error", "resource_missing")


def test_delete_on_a_customer_answers_405_method_not_allowed(operator_client):
    customer = CustomerFactory()

    response = operator_client.delete(f"{CUSTOMERS}/{customer.id}")

    assert_error(response, 405, "invalid_request_error", "method_not_allowed")
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_put_on_the_customer_list_answers_405_method_not_allowed(operator_client):
    response = operator_client.put(CUSTOMERS, VALID_CUSTOMER, format="json")

    assert_error(response, 405, "invalid_request_error", "method_not_allowed")
    assert Customer.objects.count() == 0


def test_get_on_the_token_route_answers_405_method_not_allowed(operator_client, customer):
    response = operator_client.get(f"{CUSTOMERS}/{customer.id}/tokens")

    assert_error(response, 405, "invalid_request_error", "method_not_allowed")


# --- throttling


@pytest.fixture
def two_per_minute(monkeypatch):
    # DRF reads the rates into the class when it is defined, so patch the class, not the settings.
    monkeypatch.setattr(CredentialRateThrottle, "THROTTLE_RATES", {"credential": "2/min"})


def test_request_over_the_rate_answers_429_rate_limit_error(operator_client, two_per_minute):
    assert operator_client.get(CUSTOMERS).status_code == 200
    assert operator_client.get(CUSTOMERS).status_code == 200

    response = operator_client.get(CUSTOMERS)

    assert_error(response, 429, "rate_limit_error", "rate_limited")


def test_throttled_answer_carries_retry_after_in_seconds(operator_client, two_per_minute):
    for _ in range(2):
        operator_client.get(CUSTOMERS)

    response = operator_client.get(CUSTOMERS)

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61


def test_throttled_post_writes_nothing(operator_client, two_per_minute):
    for _ in range(2):
        operator_client.get(CUSTOMERS)

    response = operator_client.post(CUSTOMERS, VALID_CUSTOMER, format="json")

    assert response.status_code == 429
    assert Customer.objects.count() == 0


def test_throttle_budget_is_per_credential(operator_client, customer_client, two_per_minute):
    for _ in range(2):
        operator_client.get(CUSTOMERS)
    assert operator_client.get(CUSTOMERS).status_code == 429

    assert customer_client.get("/api/v1/me").status_code == 200


def test_requests_under_the_rate_are_not_throttled(operator_client, two_per_minute):
    statuses = [operator_client.get(CUSTOMERS).status_code for _ in range(2)]

    assert statuses == [200, 200]


# --- crashes


def _boom(**kwargs):
    raise RuntimeError("boom: secret internal detail /srv/app/payments/selectors.py")


def test_unexpected_exception_in_a_view_answers_500_api_error(operator_client, monkeypatch):
    monkeypatch.setattr("payments.selectors.customer_get", _boom)

    response = operator_client.get(f"{CUSTOMERS}/cus_anything")

    error = assert_error(response, 500, "api_error")
    assert error["param"] is None


def test_unexpected_exception_answer_leaks_no_traceback(operator_client, monkeypatch):
    monkeypatch.setattr("payments.selectors.customer_get", _boom)

    content = operator_client.get(f"{CUSTOMERS}/cus_anything").content.decode()

    for leak in ("Traceback", "RuntimeError", "secret internal detail", "selectors.py", 'File "'):
        assert leak not in content


@override_settings(DEBUG=True)
def test_unexpected_exception_answer_leaks_no_traceback_with_debug_on(operator_client, monkeypatch):
    monkeypatch.setattr("payments.selectors.customer_get", _boom)

    response = operator_client.get(f"{CUSTOMERS}/cus_anything")

    assert_error(response, 500, "api_error")
    assert "Traceback" not in response.content.decode()
    assert "secret internal detail" not in response.content.decode()


def test_unexpected_exception_after_a_write_leaves_nothing_written(operator_client, monkeypatch):
    # The event is written after the customer row: a crash there must take the row with it.
    monkeypatch.setattr("payments.services.customers.event_emit", _boom)

    response = operator_client.post(CUSTOMERS, VALID_CUSTOMER, format="json")

    assert_error(response, 500, "api_error")
    assert Customer.objects.count() == 0
    assert Event.objects.count() == 0


def test_unexpected_exception_during_update_leaves_the_customer_unchanged(operator_client, monkeypatch):
    customer = CustomerFactory(country="DE", currency="EUR")
    monkeypatch.setattr("payments.services.customers.event_emit", _boom)

    response = operator_client.patch(f"{CUSTOMERS}/{customer.id}", {"country": "JP"}, format="json")

    assert_error(response, 500, "api_error")
    customer.refresh_from_db()
    assert (customer.country, customer.currency) == ("DE", "EUR")
    assert Event.objects.count() == 0


def test_api_recovers_after_an_unexpected_exception(operator_client, monkeypatch):
    customer = CustomerFactory()
    monkeypatch.setattr("payments.selectors.customer_get", _boom)
    operator_client.get(f"{CUSTOMERS}/{customer.id}")
    monkeypatch.undo()

    response = operator_client.get(f"{CUSTOMERS}/{customer.id}")

    assert response.status_code == 200
    assert response.json()["id"] == customer.id
