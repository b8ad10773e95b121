"""The Django admin's customer screens: list, search, and add/change going through the services."""

import pytest
from django.test import Client
from django.utils import timezone

from conftest import sign_in_verified
from integrations.models import Event
from payments.models import Customer
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/payments/customer/"
ADD = "/admin/payments/customer/add/"


@pytest.fixture
def superuser_client(django_user_model):
    user = django_user_model.objects.create_superuser(username="root", email="root@example.com", password="pw")
    client = Client()
    sign_in_verified(client, user)
    return client


def _change_url(customer) -> str:
    return f"/admin/payments/customer/{customer.pk}/change/"


def _listed(response) -> list[str]:
    return [customer.pk for customer in response.context["cl"].result_list]


def _form_errors(response) -> dict:
    return response.context["adminform"].form.errors


# --- changelist and search


def test_changelist_answers_200_for_a_superuser(superuser_client):
    customer = CustomerFactory(external_id="listed-one")

    response = superuser_client.get(CHANGELIST)

    assert response.status_code == 200
    assert _listed(response) == [customer.pk]
    assert b"listed-one" in response.content


def test_changelist_redirects_an_anonymous_visitor_to_login(db):
    response = Client().get(CHANGELIST)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_changelist_search_by_email_finds_only_matching_customers(superuser_client):
    wanted = CustomerFactory(email="ada.lovelace@example.com")
    CustomerFactory(email="grace@example.com")

    response = superuser_client.get(CHANGELIST, {"q": "lovelace"})

    assert response.status_code == 200
    assert _listed(response) == [wanted.pk]


def test_changelist_search_by_external_id_finds_the_customer(superuser_client):
    wanted = CustomerFactory(external_id="crm-4711")
    CustomerFactory(external_id="crm-0001")

    response = superuser_client.get(CHANGELIST, {"q": "4711"})

    assert _listed(response) == [wanted.pk]


def test_changelist_search_by_exact_id_finds_the_customer(superuser_client):
    wanted = CustomerFactory()
    CustomerFactory()

    response = superuser_client.get(CHANGELIST, {"q": wanted.pk})

    assert _listed(response) == [wanted.pk]


def test_changelist_search_without_match_lists_nothing(superuser_client):
    CustomerFactory(email="someone@example.com")

    response = superuser_client.get(CHANGELIST, {"q": "no-such-customer"})

    assert response.status_code == 200
    assert _listed(response) == []


def test_changelist_filters_by_country(superuser_client):
    japanese = CustomerFactory(country="JP", currency="JPY")
    CustomerFactory(country="DE", currency="EUR")

    response = superuser_client.get(CHANGELIST, {"country": "JP"})

    assert _listed(response) == [japanese.pk]


def test_change_form_answers_200_for_a_superuser(superuser_client):
    customer = CustomerFactory()

    response = superuser_client.get(_change_url(customer))

    assert response.status_code == 200
    assert customer.external_id.encode() in response.content


# --- add


def _add(client, **overrides):
    data = {"external_id": "admin-made", "email": "admin@example.com", "name": "Made In Admin", "country": "JP"}
    data.update(overrides)
    return client.post(ADD, data)


def test_add_form_answers_200_for_a_superuser(superuser_client):
    assert superuser_client.get(ADD).status_code == 200


def test_add_customer_creates_it_with_the_countrys_currency(superuser_client):
    response = _add(superuser_client)

    assert response.status_code == 302
    customer = Customer.objects.get(external_id="admin-made")
    assert (customer.email, customer.name, customer.country, customer.currency) == (
        "admin@example.com",
        "Made In Admin",
        "JP",
        "JPY",
    )


def test_add_customer_goes_through_the_service_and_writes_customer_created(superuser_client):
    _add(superuser_client)

    customer = Customer.objects.get(external_id="admin-made")
    event = Event.objects.get(type="customer.created")
    assert event.customer_id == customer.pk
    assert event.payload["customer"]["external_id"] == "admin-made"
    assert event.payload["customer"]["currency"] == "JPY"


def test_add_customer_creates_exactly_one_row(superuser_client):
    _add(superuser_client)

    assert Customer.objects.count() == 1
    assert Customer.objects.get().pk.startswith("cus_")


def test_add_customer_accepts_lower_case_country(superuser_client):
    response = _add(superuser_client, country="kw")

    assert response.status_code == 302
    customer = Customer.objects.get(external_id="admin-made")
    assert (customer.country, customer.currency) == ("KW", "KWD")


def test_add_customer_redirects_to_a_page_that_exists(superuser_client):
    response = _add(superuser_client)

    assert response.status_code == 302
    assert superuser_client.get(response["Location"]).status_code == 200


def test_add_customer_with_unknown_country_shows_a_form_error(superuser_client):
    response = _add(superuser_client, country="XX")

    assert response.status_code == 200
    assert "country" in _form_errors(response)
    assert Customer.objects.count() == 0
    assert not Event.objects.exists()


def test_add_customer_with_numeric_country_shows_a_form_error(superuser_client):
    response = _add(superuser_client, country="12")

    assert response.status_code == 200
    assert "country" in _form_errors(response)
    assert Customer.objects.count() == 0


def test_add_customer_with_existing_external_id_shows_a_form_error(superuser_client):
    CustomerFactory(external_id="admin-made")

    response = _add(superuser_client)

    assert response.status_code == 200
    assert "external_id" in _form_errors(response)
    assert Customer.objects.count() == 1
    assert not Event.objects.exists()


def test_add_customer_with_bad_email_shows_a_form_error(superuser_client):
    response = _add(superuser_client, email="not-an-email")

    assert response.status_code == 200
    assert "email" in _form_errors(response)
    assert Customer.objects.count() == 0


# --- change


def test_change_customer_country_moves_currency_and_writes_customer_updated(superuser_client):
    customer = CustomerFactory(country="DE", currency="EUR")
    data = {"external_id": customer.external_id, "email": customer.email, "name": customer.name, "country": "JP"}

    response = superuser_client.post(_change_url(customer), data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.country, customer.currency) == ("JP", "JPY")
    event = Event.objects.get(type="customer.updated")
    assert event.customer_id == customer.pk
    assert event.payload["changed"] == ["country"]


def test_change_customer_country_keeps_a_fixed_currency(superuser_client):
    customer = CustomerFactory(country="DE", currency="EUR", currency_fixed_at=timezone.now())
    data = {"external_id": customer.external_id, "email": customer.email, "name": customer.name, "country": "JP"}

    superuser_client.post(_change_url(customer), data)

    customer.refresh_from_db()
    assert (customer.country, customer.currency) == ("JP", "EUR")


def test_change_customer_with_unknown_country_shows_a_form_error(superuser_client):
    customer = CustomerFactory(country="DE", currency="EUR")
    data = {"external_id": customer.external_id, "email": customer.email, "name": customer.name, "country": "XX"}

    response = superuser_client.post(_change_url(customer), data)

    assert response.status_code == 200
    assert "country" in _form_errors(response)
    customer.refresh_from_db()
    assert customer.country == "DE"


def test_change_customer_without_changes_writes_no_event(superuser_client):
    customer = CustomerFactory()
    data = {"external_id": customer.external_id, "email": customer.email, "name": customer.name, "country": "DE"}

    response = superuser_client.post(_change_url(customer), data)

    assert response.status_code == 302
    assert not Event.objects.filter(type="customer.updated").exists()


# --- business customers: tax id and business name


def test_add_a_business_customer_normalises_its_tax_id(superuser_client):
    response = _add(superuser_client, country="FR", business_name="ACME SA", tax_id="fr 403 032 650 45")

    assert response.status_code == 302, _form_errors(response)
    customer = Customer.objects.get()
    assert (customer.business_name, customer.tax_id, customer.tax_id_country, customer.tax_id_status) == (
        "ACME SA",
        "FR40303265045",
        "FR",
        "unverified",
    )


def test_add_with_an_invalid_tax_id_shows_a_form_error(superuser_client):
    response = _add(superuser_client, country="FR", tax_id="FR40303265046")

    assert response.status_code == 200
    assert "tax_id" in _form_errors(response)
    assert Customer.objects.count() == 0


def test_change_the_tax_id_resets_its_status_and_shows_it(superuser_client):
    customer = CustomerFactory(
        country="FR",
        tax_id="FR40303265045",
        tax_id_country="FR",
        tax_id_status="verified",
        tax_id_verified_at=timezone.now(),
    )
    data = {
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "country": "FR",
        "tax_id": "BE 0403.170.701",
    }

    response = superuser_client.post(_change_url(customer), data)

    assert response.status_code == 302, _form_errors(response)
    customer.refresh_from_db()
    assert (customer.tax_id, customer.tax_id_status, customer.tax_id_verified_at) == (
        "BE0403170701",
        "unverified",
        None,
    )
    page = superuser_client.get(_change_url(customer))
    assert b"BE0403170701" in page.content
    assert b"Unverified" in page.content  # the status, read-only


def test_the_changelist_filters_by_tax_id_status(superuser_client):
    verified = CustomerFactory(
        tax_id="FR40303265045", tax_id_country="FR", tax_id_status="verified", tax_id_verified_at=timezone.now()
    )
    CustomerFactory()

    response = superuser_client.get(CHANGELIST, {"tax_id_status__exact": "verified"})

    assert _listed(response) == [verified.pk]
