"""Business customers through the API: POST and PATCH /api/v1/customers take `tax_id` and
`business_name`; the id is checked and normalised, and a new one starts unverified."""

import pytest

from integrations.models import Event
from payments.models import Customer
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"


def _create(client, **overrides):
    body = {"external_id": "biz-1", "email": "billing@acme.example", "country": "FR", "name": "Ann"}
    body.update(overrides)
    return client.post(URL, body, format="json")


def _assert_tax_id_invalid(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "tax_id_invalid", "tax_id")
    assert error["message"]


@pytest.mark.parametrize(
    ("country", "tax_id", "number", "tax_id_country"),
    [
        ("FR", "FR40303265045", "FR40303265045", "FR"),
        ("DE", "DE136695976", "DE136695976", "DE"),
        ("IT", "IT00743110157", "IT00743110157", "IT"),
        ("NL", "NL004495445B01", "NL004495445B01", "NL"),
        ("BE", "BE0403170701", "BE0403170701", "BE"),
        ("ES", "ESA28015865", "ESA28015865", "ES"),
        ("GB", "GB980780684", "GB980780684", "GB"),
        ("GR", "EL094259216", "EL094259216", "GR"),
        ("CH", "CHE-116.281.710 MWST", "CHE116281710", "CH"),
        ("AU", "51 824 753 556", "AU51824753556", "AU"),
    ],
)
def test_create_a_business_customer_with_a_valid_tax_id(operator_client, country, tax_id, number, tax_id_country):
    response = _create(operator_client, country=country, tax_id=tax_id, business_name="ACME SA")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["tax_id"], body["tax_id_status"], body["business_name"]) == (number, "unverified", "ACME SA")
    assert (body["tax_id_country"], body["tax_id_verified_at"]) == (tax_id_country, None)
    stored = Customer.objects.get(pk=body["id"])
    assert (stored.tax_id, stored.tax_id_country, stored.tax_id_status) == (number, tax_id_country, "unverified")


@pytest.mark.parametrize(
    "tax_id",
    ["FR40303265046", "DE136695977", "IT00743110158", "NL004495446B01", "BE0403170702", "ESA28015866", "GB980780685"],
)
def test_create_with_a_tax_id_failing_its_checksum_answers_400_tax_id_invalid(operator_client, tax_id):
    response = _create(operator_client, tax_id=tax_id)

    _assert_tax_id_invalid(response)
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    "tax_id", ["US123456789", "not a number", "FR", True, ["FR40303265045"], {"id": "x"}, "X" * 41]
)
def test_create_with_a_malformed_tax_id_is_refused_with_a_400(operator_client, tax_id):
    response = _create(operator_client, tax_id=tax_id)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "tax_id"
    assert not Customer.objects.exists()


def test_create_normalises_the_tax_id(operator_client):
    response = _create(operator_client, tax_id=" fr 403.032.650-45 ")

    assert response.status_code == 201, response.content
    assert response.json()["tax_id"] == "FR40303265045"


def test_create_reads_a_bare_number_in_the_billing_country(operator_client):
    response = _create(operator_client, country="FR", tax_id="40303265045")

    assert response.json()["tax_id"] == "FR40303265045"


def test_create_without_a_tax_id_is_a_consumer(operator_client):
    body = _create(operator_client).json()

    assert (body["tax_id"], body["tax_id_status"], body["tax_id_country"], body["business_name"]) == (
        None,
        "unverified",
        None,
        "",
    )


def test_create_with_a_null_or_blank_tax_id_stores_none(operator_client):
    assert _create(operator_client, tax_id=None).json()["tax_id"] is None
    assert _create(operator_client, external_id="biz-2", tax_id="").json()["tax_id"] is None


def test_the_customer_created_event_carries_the_tax_id(operator_client):
    body = _create(operator_client, tax_id="FR40303265045", business_name="ACME SA").json()

    payload = Event.objects.get(type="customer.created").payload["customer"]
    assert (payload["id"], payload["tax_id"], payload["tax_id_status"], payload["business_name"]) == (
        body["id"],
        "FR40303265045",
        "unverified",
        "ACME SA",
    )


# --- PATCH


def test_patch_sets_a_tax_id_and_business_name(operator_client):
    customer = CustomerFactory(country="DE")

    response = operator_client.patch(
        f"{URL}/{customer.id}", {"tax_id": "de 136 695 976", "business_name": "Muster GmbH"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tax_id"], body["tax_id_status"], body["business_name"]) == (
        "DE136695976",
        "unverified",
        "Muster GmbH",
    )
    event = Event.objects.get(type="customer.updated")
    assert event.payload["changed"] == ["business_name", "tax_id"]
    assert event.payload["customer"]["tax_id"] == "DE136695976"


def test_patch_with_an_invalid_tax_id_answers_400_and_changes_nothing(operator_client):
    customer = CustomerFactory(country="IT", tax_id="IT00743110157", tax_id_country="IT")

    response = operator_client.patch(f"{URL}/{customer.id}", {"tax_id": "IT00743110158", "name": "New"}, format="json")

    _assert_tax_id_invalid(response)
    customer.refresh_from_db()
    assert (customer.tax_id, customer.name) != (None, "New")
    assert customer.tax_id == "IT00743110157"
    assert not Event.objects.filter(type="customer.updated").exists()


def test_changing_a_verified_tax_id_resets_its_status_to_unverified(operator_client):
    customer = CustomerFactory(country="FR", **_verified("FR40303265045"))

    response = operator_client.patch(f"{URL}/{customer.id}", {"tax_id": "BE0403170701"}, format="json")

    body = response.json()
    assert (body["tax_id"], body["tax_id_status"], body["tax_id_country"], body["tax_id_verified_at"]) == (
        "BE0403170701",
        "unverified",
        "BE",
        None,
    )
    event = Event.objects.get(type="customer.updated")
    assert event.payload["changed"] == ["tax_id", "tax_id_status"]


def test_patch_with_the_same_tax_id_in_another_spelling_changes_nothing(operator_client):
    customer = CustomerFactory(country="FR", **_verified("FR40303265045"))

    response = operator_client.patch(f"{URL}/{customer.id}", {"tax_id": "fr 403 032 650 45"}, format="json")

    assert response.json()["tax_id_status"] == "verified"
    assert not Event.objects.filter(type="customer.updated").exists()


@pytest.mark.parametrize("removed", [None, ""])
def test_patch_with_a_null_or_blank_tax_id_removes_it(operator_client, removed):
    customer = CustomerFactory(country="FR", **_verified("FR40303265045"))

    body = operator_client.patch(f"{URL}/{customer.id}", {"tax_id": removed}, format="json").json()

    assert (body["tax_id"], body["tax_id_status"], body["tax_id_country"], body["tax_id_verified_at"]) == (
        None,
        "unverified",
        None,
        None,
    )


def test_patch_reads_a_bare_number_in_the_country_sent_with_it(operator_client):
    customer = CustomerFactory(country="DE")

    body = operator_client.patch(
        f"{URL}/{customer.id}", {"country": "FR", "tax_id": "40303265045"}, format="json"
    ).json()

    assert (body["country"], body["tax_id"]) == ("FR", "FR40303265045")


def test_patch_business_name_alone_keeps_the_tax_id_status(operator_client):
    customer = CustomerFactory(country="FR", **_verified("FR40303265045"))

    body = operator_client.patch(f"{URL}/{customer.id}", {"business_name": "  ACME SAS "}, format="json").json()

    assert (body["business_name"], body["tax_id_status"]) == ("ACME SAS", "verified")


def test_the_schema_describes_the_tax_id_fields(operator_client):
    schema = operator_client.get("/api/schema/?format=json").json()

    components = schema["components"]["schemas"]
    assert {"tax_id", "tax_id_status", "business_name"} <= set(components["Customer"]["properties"])
    assert {"tax_id", "business_name"} <= set(components["CustomerCreateRequest"]["properties"])
    assert {"tax_id", "business_name"} <= set(components["PatchedCustomerUpdateRequest"]["properties"])


def _verified(number: str) -> dict:
    from django.utils import timezone

    return {
        "tax_id": number,
        "tax_id_country": number[:2],
        "tax_id_status": Customer.TaxIdStatus.VERIFIED,
        "tax_id_verified_at": timezone.now(),
    }
