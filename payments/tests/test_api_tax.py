"""The tax routes (API.md "Tax"): registrations (GET/POST /api/v1/tax/registrations, GET/PATCH
/api/v1/tax/registrations/{id}; writes need `tax:write`) and the rates in force (GET
/api/v1/tax/rates)."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.kernel.api_keys import api_key_create
from integrations.kernel.clock import running_at
from integrations.kernel.models import AuditEvent
from integrations.models import Event
from payments.tax.api.serializers import TaxRateSerializer, TaxRegistrationSerializer
from payments.tax.models import TaxRate, TaxRegistration
from payments.tests.tax_helpers import registration, shipped_rates_loaded

pytestmark = pytest.mark.django_db

URL = "/api/v1/tax/registrations"


@pytest.fixture(autouse=True)
def _rates_and_seller(db, settings):
    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()


@pytest.fixture
def today():
    with running_at(timezone.make_aware(dt.datetime(2026, 6, 1, 12), dt.UTC)):
        yield dt.date(2026, 6, 1)


def _client(*scopes) -> APIClient:
    raw, _ = api_key_create(name="tax-tests", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _body(**overrides) -> dict:
    return {"country": "DE", "scheme": "eu_oss", "number": "DE123456789", "active_from": "2026-01-01", **overrides}


def _error(response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["param"]


# --- Registrations --------------------------------------------------------------------------------


def test_an_operator_registers_a_region_and_reads_it_back(operator_client, today):
    created = operator_client.post(URL, _body(), format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["id"].startswith("txr_")
    assert {
        k: body[k] for k in ("country", "subdivision", "scheme", "number", "active_from", "expires_at", "status")
    } == {
        "country": "DE",
        "subdivision": None,
        "scheme": "eu_oss",
        "number": "DE123456789",
        "active_from": "2026-01-01",
        "expires_at": None,
        "status": "active",
    }
    assert operator_client.get(f"{URL}/{body['id']}").json() == body


def test_registering_emits_an_event_and_is_audited_with_the_key_as_actor(operator_client, today):
    registration_id = operator_client.post(URL, _body(), format="json").json()["id"]

    event = Event.objects.get(type="tax_registration.created")
    assert event.payload["tax_registration"]["id"] == registration_id
    audit = AuditEvent.objects.get(action="tax_registration.created", object_id=registration_id)
    assert audit.actor_type == "api_key"
    assert audit.changes["country"] == [None, "DE"]


def test_the_status_follows_the_dates(operator_client, today):
    scheduled = operator_client.post(URL, _body(active_from="2026-09-01"), format="json").json()
    expired = operator_client.post(
        URL, _body(scheme="domestic", active_from="2025-01-01", expires_at="2026-01-01"), format="json"
    ).json()

    assert (scheduled["status"], expired["status"]) == ("scheduled", "expired")


def test_the_list_is_paginated_newest_first_and_filters_by_status(operator_client, today):
    first = registration(scheme="domestic", active_from=dt.date(2026, 1, 1))
    second = registration(country="FR", active_from=dt.date(2027, 1, 1))

    listed = operator_client.get(URL).json()
    active = operator_client.get(URL, {"status": "active"}).json()

    assert list(listed) == ["results", "next"]
    assert [r["id"] for r in listed["results"]] == [second.id, first.id]
    assert [r["id"] for r in active["results"]] == [first.id]
    page = operator_client.get(URL, {"limit": 1}).json()
    assert len(page["results"]) == 1 and page["next"]


def test_a_canadian_province_with_its_own_tax_is_registered_with_its_subdivision(operator_client, today):
    created = operator_client.post(
        URL, _body(country="CA", subdivision="qc", scheme="domestic", number="1234567890TQ0001"), format="json"
    )

    assert created.status_code == 201, created.content
    assert created.json()["subdivision"] == "QC"


@pytest.mark.parametrize(
    ("overrides", "code", "param"),
    [
        ({"country": None}, "parameter_missing", "country"),
        ({"country": "XX"}, "parameter_invalid", "country"),
        ({"country": "DEU"}, "parameter_invalid", "country"),
        ({"scheme": "vat"}, "parameter_invalid", "scheme"),
        ({"number": ""}, "parameter_missing", "number"),
        ({"number": "x" * 51}, "parameter_invalid", "number"),
        ({"active_from": "2026-13-01"}, "parameter_invalid", "active_from"),
        ({"active_from": "10000-01-01"}, "parameter_invalid", "active_from"),
        ({"expires_at": "2025-12-31"}, "parameter_invalid", "expires_at"),
        ({"expires_at": "2026-01-01"}, "parameter_invalid", "expires_at"),
        ({"subdivision": "BY"}, "parameter_invalid", "subdivision"),  # Germany's subdivisions are not taxed apart
        ({"country": "US", "scheme": "domestic"}, "parameter_invalid", "subdivision"),  # a state is required
        (
            {"country": "CA", "subdivision": "ON", "scheme": "domestic"},
            "parameter_invalid",
            "subdivision",
        ),  # HST: federal
        ({"country": "CA", "subdivision": "XX", "scheme": "domestic"}, "parameter_invalid", "subdivision"),
        # Puerto Rico is a country of its own (PR), as a customer's country is: not a state.
        ({"country": "US", "subdivision": "PR", "scheme": "domestic"}, "parameter_invalid", "subdivision"),
        ({"country": "US", "scheme": "eu_oss"}, "parameter_invalid", "country"),  # OSS is held in the EU
        ({"country": "FR", "scheme": "eu_oss"}, "parameter_invalid", "country"),  # an EU seller's OSS is at home
        ({"country": "FR", "scheme": "uk"}, "parameter_invalid", "scheme"),
        ({"country": "GB", "scheme": "domestic"}, "parameter_invalid", "scheme"),
        ({"country": "JP", "scheme": "other"}, "parameter_invalid", "country"),  # no rates shipped for Japan
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(operator_client, today, overrides, code, param):
    body = {k: v for k, v in _body(**overrides).items() if v is not None}

    response = operator_client.post(URL, body, format="json")

    assert _error(response) == (400, code, param), response.json()
    assert not TaxRegistration.objects.exists()
    assert not Event.objects.filter(type__startswith="tax_registration").exists()


def test_a_second_oss_registration_over_the_same_days_is_a_conflict(operator_client, today):
    registration(scheme="eu_oss", active_from=dt.date(2026, 1, 1), expires_at=dt.date(2026, 7, 1))

    overlapping = operator_client.post(URL, _body(active_from="2026-06-01"), format="json")
    after = operator_client.post(URL, _body(active_from="2026-07-01"), format="json")

    assert _error(overlapping) == (409, "tax_registration_overlaps", "active_from")
    assert after.status_code == 201


def test_an_unknown_registration_is_a_404(operator_client):
    response = operator_client.get(f"{URL}/txr_01nosuchregistration000000")

    assert _error(response) == (404, "resource_missing", None)
    assert operator_client.patch(f"{URL}/txr_nope", {"number": "x"}, format="json").status_code == 404


def test_an_operator_expires_a_registration_and_an_update_event_follows(operator_client, today):
    existing = registration(scheme="eu_oss", active_from=dt.date(2026, 1, 1))

    response = operator_client.patch(f"{URL}/{existing.id}", {"expires_at": "2026-06-01"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["expires_at"], response.json()["status"]) == ("2026-06-01", "expired")
    event = Event.objects.get(type="tax_registration.updated")
    assert event.payload["tax_registration"]["expires_at"] == "2026-06-01"


def test_a_registrations_number_changes_and_its_region_does_not(operator_client, today):
    existing = registration(scheme="eu_oss", active_from=dt.date(2026, 1, 1))

    renumbered = operator_client.patch(f"{URL}/{existing.id}", {"number": "EU372000041"}, format="json")
    moved = operator_client.patch(f"{URL}/{existing.id}", {"country": "FR"}, format="json")
    restarted = operator_client.patch(f"{URL}/{existing.id}", {"active_from": "2026-02-01"}, format="json")

    assert renumbered.json()["number"] == "EU372000041"
    assert _error(moved) == (400, "parameter_invalid", "country")
    assert _error(restarted) == (400, "parameter_invalid", "active_from")  # it has started
    assert TaxRegistration.objects.get().country == "DE"


def test_a_scheduled_registration_may_move_its_start(operator_client, today):
    existing = registration(scheme="eu_oss", active_from=dt.date(2026, 9, 1))

    response = operator_client.patch(f"{URL}/{existing.id}", {"active_from": "2026-10-01"}, format="json")

    assert response.json()["active_from"] == "2026-10-01"


def test_a_patch_that_changes_nothing_emits_no_event(operator_client, today):
    existing = registration(scheme="eu_oss", active_from=dt.date(2026, 1, 1))

    operator_client.patch(f"{URL}/{existing.id}", {"number": existing.number}, format="json")

    assert not Event.objects.filter(type="tax_registration.updated").exists()


# --- Scopes ---------------------------------------------------------------------------------------


def test_writes_need_the_tax_write_scope_and_reads_the_read_scope(today):
    refused = _client("read").post(URL, _body(), format="json")
    other_scope = _client("customers:write").post(URL, _body(), format="json")
    allowed = _client("tax:write").post(URL, _body(), format="json")

    assert _error(refused) == (403, "insufficient_scope", None)
    assert _error(other_scope) == (403, "insufficient_scope", None)
    assert allowed.status_code == 201
    registration_id = allowed.json()["id"]
    assert _client("read").get(f"{URL}/{registration_id}").status_code == 200
    assert _error(_client("tax:write").get(URL)) == (403, "insufficient_scope", None)
    assert _error(_client("read").patch(f"{URL}/{registration_id}", {"number": "x"}, format="json"))[1] == (
        "insufficient_scope"
    )


def test_a_customer_token_cannot_reach_the_tax_routes(customer_client):
    assert customer_client.get(URL).status_code == 403
    assert customer_client.get("/api/v1/tax/rates").status_code == 403


# --- Rates ----------------------------------------------------------------------------------------


def test_the_rates_in_force_today_of_a_country(operator_client, today):
    body = operator_client.get("/api/v1/tax/rates", {"country": "de"}).json()

    assert body["next"] is None
    (rate,) = body["results"]
    assert {k: rate[k] for k in ("country", "subdivision", "category", "rate", "valid_from", "valid_to")} == {
        "country": "DE",
        "subdivision": None,
        "category": "digital_services",
        "rate": "0.19",
        "valid_from": "2021-01-01",
        "valid_to": None,
    }
    assert rate["source"] and rate["source_date"]


def test_the_rates_of_a_province_come_with_the_federal_rate(operator_client, today):
    results = operator_client.get("/api/v1/tax/rates", {"country": "CA", "subdivision": "QC"}).json()["results"]

    assert [(r["subdivision"], r["name"], r["rate"], r["adds_to_country"]) for r in results] == [
        (None, "GST", "0.05", False),
        ("QC", "QST", "0.09975", True),
    ]


def test_the_rates_in_force_on_another_day(operator_client, today):
    before = operator_client.get("/api/v1/tax/rates", {"country": "FI", "at": "2024-08-31"}).json()["results"]
    after = operator_client.get("/api/v1/tax/rates", {"country": "FI", "at": "2024-09-01"}).json()["results"]

    assert ([r["rate"] for r in before], [r["rate"] for r in after]) == (["0.24"], ["0.255"])
    assert before[0]["valid_to"] == "2024-09-01"


def test_every_rate_in_force_is_listed_and_the_list_pages(operator_client, today):
    first = operator_client.get("/api/v1/tax/rates").json()
    page = operator_client.get("/api/v1/tax/rates", {"limit": 10}).json()

    in_force = TaxRate.objects.filter(valid_to__isnull=True).count()
    assert len(first["results"]) == in_force and first["next"] is None
    second = operator_client.get(page["next"]).json()
    assert len(page["results"]) == 10 and page["results"][-1] != second["results"][0]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "Germany"}, "country"),
        ({"subdivision": "QC"}, "subdivision"),  # without its country
        ({"country": "CA", "subdivision": "Q-C"}, "subdivision"),
        ({"at": "yesterday"}, "at"),
        ({"category": "Digital Services"}, "category"),
    ],
)
def test_a_bad_rates_query_is_a_400_naming_the_parameter(operator_client, query, param):
    assert _error(operator_client.get("/api/v1/tax/rates", query)) == (400, "parameter_invalid", param)


def test_the_tax_serializers_describe_exactly_what_their_representations_give(today):
    existing = registration(scheme="eu_oss")
    rate = TaxRate.objects.first()

    assert set(TaxRegistrationSerializer(existing).data) == set(TaxRegistrationSerializer().fields)
    assert set(TaxRateSerializer(rate).data) == set(TaxRateSerializer().fields)
