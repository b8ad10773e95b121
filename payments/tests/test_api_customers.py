"""POST/GET/PATCH /api/v1/customers and the customer events they write."""

from datetime import datetime

import pytest
from django.utils import timezone

from integrations.models import Event
from payments.models import Customer
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"


def _create(client, **overrides):
    body = {"external_id": "ext-1", "email": "ada@example.com", "country": "DE", "name": "Ada"}
    body.update(overrides)
    return client.post(URL, {k: v for k, v in body.items() if v is not ...}, format="json")


def _assert_error(response, status: int, code: str, param: str | None):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(response.json()) == {"error"}
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert error["message"]


# --- POST /api/v1/customers


def test_create_customer_answers_201_with_the_customer(operator_client):
    response = _create(operator_client)

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("cus_")
    assert body["external_id"] == "ext-1"
    assert body["email"] == "ada@example.com"
    assert body["name"] == "Ada"
    assert body["country"] == "DE"
    assert body["currency"] == "EUR"
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert datetime.fromisoformat(body["updated_at"]).tzinfo is not None


def test_create_customer_stores_the_customer_it_answers_with(operator_client):
    body = _create(operator_client).json()

    customer = Customer.objects.get(pk=body["id"])
    assert (customer.external_id, customer.email, customer.name, customer.country, customer.currency) == (
        "ext-1",
        "ada@example.com",
        "Ada",
        "DE",
        "EUR",
    )
    assert customer.currency_fixed_at is None


def test_create_customer_timestamps_are_utc(operator_client):
    body = _create(operator_client).json()

    assert body["created_at"].endswith("Z")
    assert body["updated_at"].endswith("Z")


@pytest.mark.parametrize(("country", "currency"), [("JP", "JPY"), ("KW", "KWD"), ("DE", "EUR")])
def test_create_customer_derives_currency_from_country(operator_client, country, currency):
    response = _create(operator_client, country=country)

    assert response.status_code == 201
    assert response.json()["currency"] == currency
    assert Customer.objects.get(pk=response.json()["id"]).currency == currency


def test_create_customer_accepts_lower_case_country_and_stores_it_upper_case(operator_client):
    response = _create(operator_client, country="jp")

    assert response.status_code == 201
    assert response.json()["country"] == "JP"
    assert response.json()["currency"] == "JPY"
    assert Customer.objects.get(pk=response.json()["id"]).country == "JP"


def test_create_customer_without_name_answers_201_with_blank_name(operator_client):
    response = _create(operator_client, name=...)

    assert response.status_code == 201
    assert response.json()["name"] == ""


def test_create_customer_with_unknown_country_answers_400_country_invalid(operator_client):
    response = _create(operator_client, country="XX")

    _assert_error(response, 400, "country_invalid", "country")


def test_create_customer_with_three_letter_country_answers_400_on_country(operator_client):
    response = _create(operator_client, country="DEU")

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "country"


def test_create_customer_with_numeric_country_answers_400_on_country(operator_client):
    response = _create(operator_client, country=12)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["param"] == "country"


def test_create_customer_with_object_as_country_answers_400_parameter_invalid(operator_client):
    response = _create(operator_client, country={"code": "DE"})

    _assert_error(response, 400, "parameter_invalid", "country")


def test_create_customer_with_list_as_email_answers_400_on_email(operator_client):
    response = _create(operator_client, email=["ada@example.com"])

    _assert_error(response, 400, "parameter_invalid", "email")


def test_create_customer_without_email_answers_400_parameter_missing(operator_client):
    response = _create(operator_client, email=...)

    _assert_error(response, 400, "parameter_missing", "email")


def test_create_customer_without_external_id_answers_400_parameter_missing(operator_client):
    response = _create(operator_client, external_id=...)

    _assert_error(response, 400, "parameter_missing", "external_id")


def test_create_customer_with_blank_external_id_answers_400_parameter_missing(operator_client):
    response = _create(operator_client, external_id="   ")

    _assert_error(response, 400, "parameter_missing", "external_id")


def test_create_customer_without_country_answers_400_parameter_missing(operator_client):
    response = _create(operator_client, country=...)

    _assert_error(response, 400, "parameter_missing", "country")


def test_create_customer_with_malformed_email_answers_400_parameter_invalid(operator_client):
    response = _create(operator_client, email="not-an-email")

    _assert_error(response, 400, "parameter_invalid", "email")


def test_create_customer_with_existing_external_id_answers_409(operator_client):
    CustomerFactory(external_id="ext-1")

    response = _create(operator_client, external_id="ext-1")

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "customer_exists", "external_id")


def test_create_customer_with_existing_external_id_writes_nothing(operator_client):
    existing = CustomerFactory(external_id="ext-1", email="first@example.com")

    _create(operator_client, external_id="ext-1", email="second@example.com")

    assert Customer.objects.count() == 1
    existing.refresh_from_db()
    assert existing.email == "first@example.com"
    assert not Event.objects.filter(type="customer.created").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"country": "XX"},
        {"email": ...},
        {"email": "not-an-email"},
        {"country": 12},
        {"external_id": ...},
    ],
    ids=["unknown-country", "missing-email", "bad-email", "numeric-country", "missing-external-id"],
)
def test_create_customer_refused_writes_no_customer_and_no_event(operator_client, overrides):
    response = _create(operator_client, **overrides)

    assert response.status_code == 400
    assert Customer.objects.count() == 0
    assert Event.objects.count() == 0


def test_create_customer_writes_customer_created_event_with_the_customer(operator_client):
    body = _create(operator_client, country="JP").json()

    event = Event.objects.get(type="customer.created")
    assert event.customer_id == body["id"]
    assert event.payload == {"customer": body}  # the API's customer object, one representation
    assert (body["external_id"], body["email"], body["name"], body["country"], body["currency"]) == (
        "ext-1",
        "ada@example.com",
        "Ada",
        "JP",
        "JPY",
    )


def test_create_customer_writes_exactly_one_event(operator_client):
    _create(operator_client)

    assert Event.objects.count() == 1


# --- GET /api/v1/customers


def test_list_customers_answers_results_and_next(operator_client):
    CustomerFactory.create_batch(2)

    response = operator_client.get(URL)

    assert response.status_code == 200
    assert set(response.json()) == {"results", "next"}
    assert len(response.json()["results"]) == 2
    assert response.json()["next"] is None


def test_list_customers_is_newest_first(operator_client):
    older = CustomerFactory()
    newer = CustomerFactory()

    ids = [c["id"] for c in operator_client.get(URL).json()["results"]]

    assert ids == [newer.id, older.id]


def test_list_customers_pages_with_next_link(operator_client):
    older = CustomerFactory()
    newer = CustomerFactory()

    first = operator_client.get(URL, {"limit": 1}).json()
    assert [c["id"] for c in first["results"]] == [newer.id]
    assert first["next"]
    second = operator_client.get(first["next"]).json()

    assert [c["id"] for c in second["results"]] == [older.id]
    assert second["next"] is None


def test_list_customers_by_external_id_answers_only_that_customer(operator_client):
    wanted = CustomerFactory(external_id="wanted")
    CustomerFactory(external_id="other")

    response = operator_client.get(URL, {"external_id": "wanted"})

    assert response.status_code == 200
    body = response.json()
    assert [c["id"] for c in body["results"]] == [wanted.id]
    assert body["results"][0]["external_id"] == "wanted"
    assert body["next"] is None


def test_list_customers_by_unknown_external_id_answers_empty_results(operator_client):
    CustomerFactory(external_id="someone")

    response = operator_client.get(URL, {"external_id": "nobody"})

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def test_list_customers_by_external_id_does_not_match_prefixes(operator_client):
    CustomerFactory(external_id="wanted-2")

    response = operator_client.get(URL, {"external_id": "wanted"})

    assert response.json()["results"] == []


# --- GET /api/v1/customers/{id}


def test_get_customer_answers_the_customer(operator_client):
    customer = CustomerFactory(country="KW", currency="KWD")

    response = operator_client.get(f"{URL}/{customer.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == customer.id
    assert body["external_id"] == customer.external_id
    assert body["email"] == customer.email
    assert body["name"] == customer.name
    assert (body["country"], body["currency"]) == ("KW", "KWD")


def test_get_customer_does_not_expose_currency_fixed_at_or_tokens(operator_client):
    customer = CustomerFactory()

    body = operator_client.get(f"{URL}/{customer.id}").json()

    assert set(body) == {
        "id",
        "external_id",
        "email",
        "name",
        "country",
        "subdivision",
        "currency",
        "business_name",
        "tax_id",
        "tax_id_status",
        "tax_id_country",
        "tax_id_verified_at",
        "created_at",
        "updated_at",
        "erased_at",
        "preferred_locale",
        "billing_address",
    }


def test_get_unknown_customer_answers_404_resource_missing(operator_client):
    response = operator_client.get(f"{URL}/cus_doesnotexist")

    _assert_error(response, 404, "resource_missing", None)


# --- PATCH /api/v1/customers/{id}


def test_patch_customer_changes_email_and_name(operator_client):
    customer = CustomerFactory()

    response = operator_client.patch(
        f"{URL}/{customer.id}", {"email": "new@example.com", "name": "New Name"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["email"], response.json()["name"]) == ("new@example.com", "New Name")
    customer.refresh_from_db()
    assert (customer.email, customer.name) == ("new@example.com", "New Name")


def test_patch_customer_country_moves_currency_while_not_fixed(operator_client):
    customer = CustomerFactory(country="DE", currency="EUR")

    response = operator_client.patch(f"{URL}/{customer.id}", {"country": "jp"}, format="json")

    assert response.status_code == 200
    assert (response.json()["country"], response.json()["currency"]) == ("JP", "JPY")
    customer.refresh_from_db()
    assert (customer.country, customer.currency) == ("JP", "JPY")


def test_patch_customer_country_keeps_currency_once_fixed(operator_client):
    customer = CustomerFactory(country="DE", currency="EUR", currency_fixed_at=timezone.now())

    response = operator_client.patch(f"{URL}/{customer.id}", {"country": "JP"}, format="json")

    assert response.status_code == 200
    assert (response.json()["country"], response.json()["currency"]) == ("JP", "EUR")
    customer.refresh_from_db()
    assert customer.currency == "EUR"


def test_patch_customer_with_unknown_country_answers_400_and_changes_nothing(operator_client):
    customer = CustomerFactory(country="DE", currency="EUR")

    response = operator_client.patch(f"{URL}/{customer.id}", {"country": "XX", "name": "Changed"}, format="json")

    _assert_error(response, 400, "country_invalid", "country")
    customer.refresh_from_db()
    assert (customer.country, customer.currency) == ("DE", "EUR")
    assert customer.name != "Changed"
    assert not Event.objects.filter(type="customer.updated").exists()


def test_patch_customer_external_id_to_a_taken_one_answers_409(operator_client):
    CustomerFactory(external_id="taken")
    customer = CustomerFactory(external_id="mine")

    response = operator_client.patch(f"{URL}/{customer.id}", {"external_id": "taken"}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "customer_exists", "external_id")
    customer.refresh_from_db()
    assert customer.external_id == "mine"


def test_patch_customer_external_id_to_its_own_answers_200(operator_client):
    customer = CustomerFactory(external_id="mine")

    response = operator_client.patch(f"{URL}/{customer.id}", {"external_id": "mine"}, format="json")

    assert response.status_code == 200
    assert response.json()["external_id"] == "mine"


def test_patch_customer_with_malformed_email_answers_400(operator_client):
    customer = CustomerFactory()

    response = operator_client.patch(f"{URL}/{customer.id}", {"email": "nope"}, format="json")

    _assert_error(response, 400, "parameter_invalid", "email")


def test_patch_unknown_customer_answers_404_resource_missing(operator_client):
    response = operator_client.patch(f"{URL}/cus_doesnotexist", {"name": "x"}, format="json")

    _assert_error(response, 404, "resource_missing", None)


def test_patch_customer_ignores_read_only_currency(operator_client):
    customer = CustomerFactory(country="DE", currency="EUR")

    operator_client.patch(f"{URL}/{customer.id}", {"currency": "USD"}, format="json")

    customer.refresh_from_db()
    assert customer.currency == "EUR"


def test_patch_customer_writes_customer_updated_event_with_changed_fields(operator_client):
    customer = CustomerFactory(country="DE", currency="EUR")

    operator_client.patch(f"{URL}/{customer.id}", {"country": "KW", "name": customer.name}, format="json")

    event = Event.objects.get(type="customer.updated")
    assert event.customer_id == customer.id
    assert event.payload["changed"] == ["country"]
    assert event.payload["customer"]["id"] == customer.id
    assert event.payload["customer"]["country"] == "KW"
    assert event.payload["customer"]["currency"] == "KWD"


def test_patch_customer_without_changes_writes_no_event(operator_client):
    customer = CustomerFactory()

    response = operator_client.patch(f"{URL}/{customer.id}", {"email": customer.email}, format="json")

    assert response.status_code == 200
    assert not Event.objects.filter(type="customer.updated").exists()


# --- GET /api/v1/events


def test_customer_created_events_are_listed_newest_first(operator_client):
    first = _create(operator_client, external_id="first").json()
    second = _create(operator_client, external_id="second").json()

    response = operator_client.get("/api/v1/events", {"type": "customer.created"})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [e["customer"] for e in results] == [second["id"], first["id"]]
    assert all(e["type"] == "customer.created" for e in results)
    assert results[0]["id"].startswith("evt_")
    assert results[0]["data"]["customer"]["external_id"] == "second"
    assert response.json()["next"] is None


def test_events_filtered_by_type_leave_out_other_types(operator_client):
    created = _create(operator_client).json()
    operator_client.patch(f"{URL}/{created['id']}", {"name": "Renamed"}, format="json")

    created_events = operator_client.get("/api/v1/events", {"type": "customer.created"}).json()["results"]
    updated_events = operator_client.get("/api/v1/events", {"type": "customer.updated"}).json()["results"]

    assert [e["type"] for e in created_events] == ["customer.created"]
    assert [e["type"] for e in updated_events] == ["customer.updated"]
    assert updated_events[0]["data"]["changed"] == ["name"]
    assert updated_events[0]["customer"] == created["id"]
