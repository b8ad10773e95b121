"""A customer's subdivision (US state, Canadian province or territory) through the API: POST and
PATCH /api/v1/customers take it as "QC" or "CA-QC" and store and show "QC" (null where there is
none); only US and Canadian customers have one, and only one of their country's; a change of
country clears it unless the same change gives a new one."""

import pycountry
import pytest

from conftest import client_for_customer
from integrations.models import Event
from payments.models import Customer
from payments.tax.subdivisions import SUBDIVISIONS
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"


def _create(client, **overrides):
    body = {"external_id": "ann-1", "email": "ann@example.com", "country": "CA", "name": "Ann"}
    body.update(overrides)
    return client.post(URL, body, format="json")


def _patch(client, customer, **changes):
    return client.patch(f"{URL}/{customer.id}", changes, format="json")


def _assert_subdivision_invalid(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "parameter_invalid",
        "subdivision",
    )
    assert error["message"]


# --- create


@pytest.mark.parametrize(
    ("country", "given", "stored"),
    [("CA", "QC", "QC"), ("CA", "CA-QC", "QC"), ("CA", " ca-qc ", "QC"), ("US", "NY", "NY"), ("US", "US-DC", "DC")],
)
def test_create_takes_a_subdivision_with_or_without_its_country_and_shows_the_code(
    operator_client, country, given, stored
):
    response = _create(operator_client, country=country, subdivision=given)

    assert response.status_code == 201, response.content
    assert response.json()["subdivision"] == stored
    assert Customer.objects.get(pk=response.json()["id"]).subdivision == stored


@pytest.mark.parametrize("given", [None, ""])
def test_create_without_a_subdivision_shows_null(operator_client, given):
    response = _create(operator_client, subdivision=given)

    assert response.status_code == 201, response.content
    assert response.json()["subdivision"] is None


def test_create_without_the_field_shows_null(operator_client):
    body = _create(operator_client, country="DE").json()

    assert body["subdivision"] is None


@pytest.mark.parametrize(
    ("country", "given"),
    [
        ("DE", "QC"),  # only the US and Canada
        ("FR", "FR-75"),
        ("CA", "NY"),  # a state is not a province
        ("US", "QC"),
        ("US", "CA-QC"),  # another country's prefix
        ("CA", "US-NY"),
        ("US", "PR"),  # an outlying area is a country of its own (PR), not a state
        ("US", "US-GU"),
        ("CA", "XX"),
        ("CA", "CA-"),
        ("CA", "Q C"),
        ("CA", "QC\x00"),
        ("CA", "CA-QC-QC"),
        ("CA", "Q" * 16),
    ],
)
def test_create_with_a_subdivision_that_is_not_one_of_the_countrys_answers_400(operator_client, country, given):
    response = _create(operator_client, country=country, subdivision=given)

    _assert_subdivision_invalid(response)
    assert not Customer.objects.exists()
    assert not Event.objects.filter(type="customer.created").exists()


@pytest.mark.parametrize("given", [12, ["QC"], {"code": "QC"}, True, "Q" * 17])
def test_create_with_a_subdivision_that_is_not_a_short_string_answers_400(operator_client, given):
    response = _create(operator_client, subdivision=given)

    _assert_subdivision_invalid(response)
    assert not Customer.objects.exists()


def test_the_customer_event_carries_the_subdivision(operator_client):
    _create(operator_client, subdivision="CA-BC")

    assert Event.objects.get(type="customer.created").payload["customer"]["subdivision"] == "BC"


# --- the codes


def test_every_us_state_and_dc_and_every_canadian_province_and_territory_is_an_iso_3166_2_code():
    for country, codes in SUBDIVISIONS.items():
        listed = {s.code.removeprefix(f"{country}-") for s in pycountry.subdivisions.get(country_code=country)}
        assert codes <= listed, codes - listed
    assert (len(SUBDIVISIONS["US"]), len(SUBDIVISIONS["CA"])) == (51, 13)


@pytest.mark.parametrize(
    ("country", "code"), [(country, code) for country, codes in SUBDIVISIONS.items() for code in sorted(codes)]
)
def test_each_listed_subdivision_is_accepted(operator_client, country, code):
    response = _create(operator_client, country=country, subdivision=f"{country}-{code}")

    assert response.status_code == 201, response.content
    assert response.json()["subdivision"] == code


# --- update


def test_patch_sets_and_reads_back_the_subdivision(operator_client):
    customer = CustomerFactory(country="CA", currency="CAD")

    response = _patch(operator_client, customer, subdivision="CA-QC")

    assert response.status_code == 200, response.content
    assert response.json()["subdivision"] == "QC"
    assert operator_client.get(f"{URL}/{customer.id}").json()["subdivision"] == "QC"
    event = Event.objects.get(type="customer.updated")
    assert (event.payload["changed"], event.payload["customer"]["subdivision"]) == (["subdivision"], "QC")


@pytest.mark.parametrize("given", [None, ""])
def test_patch_with_null_or_empty_removes_the_subdivision(operator_client, given):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = _patch(operator_client, customer, subdivision=given)

    assert response.status_code == 200, response.content
    assert response.json()["subdivision"] is None
    customer.refresh_from_db()
    assert customer.subdivision == ""


def test_patch_with_the_same_subdivision_changes_nothing(operator_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = _patch(operator_client, customer, subdivision="ca-qc")

    assert response.status_code == 200
    assert not Event.objects.filter(type="customer.updated").exists()


def test_patch_a_subdivision_of_a_customer_outside_the_us_and_canada_answers_400(operator_client):
    customer = CustomerFactory(country="DE")

    _assert_subdivision_invalid(_patch(operator_client, customer, subdivision="QC"))
    customer.refresh_from_db()
    assert customer.subdivision == ""


def test_patch_a_subdivision_of_another_country_answers_400_and_keeps_the_old_one(operator_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    _assert_subdivision_invalid(_patch(operator_client, customer, subdivision="NY"))
    customer.refresh_from_db()
    assert customer.subdivision == "QC"


@pytest.mark.parametrize("country", ["DE", "US"])
def test_patch_of_the_country_alone_clears_the_subdivision_of_the_old_one(operator_client, country):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = _patch(operator_client, customer, country=country)

    assert response.status_code == 200, response.content
    assert (response.json()["country"], response.json()["subdivision"]) == (country, None)
    customer.refresh_from_db()
    assert customer.subdivision == ""
    assert Event.objects.get(type="customer.updated").payload["changed"] == ["country", "subdivision"]


def test_patch_of_the_country_to_the_same_country_keeps_the_subdivision(operator_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = _patch(operator_client, customer, country="ca", name="Ann B")

    assert response.status_code == 200, response.content
    assert response.json()["subdivision"] == "QC"


def test_patch_of_the_country_with_a_subdivision_of_the_new_one_moves_both(operator_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = _patch(operator_client, customer, country="US", subdivision="US-NY")

    assert response.status_code == 200, response.content
    assert (response.json()["country"], response.json()["subdivision"]) == ("US", "NY")


def test_patch_of_the_country_with_a_subdivision_of_the_old_one_answers_400_and_changes_nothing(operator_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    _assert_subdivision_invalid(_patch(operator_client, customer, country="US", subdivision="QC"))
    customer.refresh_from_db()
    assert (customer.country, customer.subdivision) == ("CA", "QC")


def test_me_shows_the_customers_subdivision(db):
    customer = CustomerFactory(country="US", subdivision="WA", currency="USD")

    assert client_for_customer(customer).get("/api/v1/me").json()["subdivision"] == "WA"
