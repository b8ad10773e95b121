"""The admin's customer form takes a US or Canadian customer's subdivision through the services:
"CA-QC" or "QC" is stored as "QC"; one that is not of the customer's country is a form error."""

import pytest
from django.test import Client

from conftest import sign_in_verified, staff_in_role
from integrations.models import Event
from payments.models import Customer
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/payments/customer/add/"


@pytest.fixture
def superuser_client(django_user_model):
    user = django_user_model.objects.create_superuser(username="root", email="root@example.com", password="pw")
    return sign_in_verified(Client(), user)


def _change_url(customer) -> str:
    return f"/admin/payments/customer/{customer.pk}/change/"


def _form(customer, **overrides) -> dict:
    data = {
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "country": customer.country,
        "subdivision": customer.subdivision,
    }
    return {**data, **overrides}


def _form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def test_add_a_quebec_customer_stores_the_province_code(superuser_client):
    data = {"external_id": "qc-1", "email": "qc@example.com", "name": "Q", "country": "CA", "subdivision": "CA-QC"}

    response = superuser_client.post(ADD, data)

    assert response.status_code == 302, _form_errors(response)
    customer = Customer.objects.get(external_id="qc-1")
    assert (customer.country, customer.subdivision, customer.currency) == ("CA", "QC", "CAD")
    assert Event.objects.get(type="customer.created").payload["customer"]["subdivision"] == "QC"


def test_add_with_a_subdivision_outside_the_us_and_canada_shows_a_form_error(superuser_client):
    data = {"external_id": "de-1", "email": "de@example.com", "name": "D", "country": "DE", "subdivision": "QC"}

    response = superuser_client.post(ADD, data)

    assert response.status_code == 200
    assert "subdivision" in _form_errors(response)
    assert not Customer.objects.exists()


def test_change_the_subdivision_goes_through_the_service(superuser_client):
    customer = CustomerFactory(country="US", currency="USD")

    response = superuser_client.post(_change_url(customer), _form(customer, subdivision="ny"))

    assert response.status_code == 302, _form_errors(response)
    customer.refresh_from_db()
    assert customer.subdivision == "NY"
    assert Event.objects.get(type="customer.updated").payload["changed"] == ["subdivision"]


def test_change_the_country_leaving_the_old_province_shows_a_form_error(superuser_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = superuser_client.post(_change_url(customer), _form(customer, country="US"))

    assert response.status_code == 200
    assert "subdivision" in _form_errors(response)
    customer.refresh_from_db()
    assert (customer.country, customer.subdivision) == ("CA", "QC")


def test_change_the_country_and_empty_the_province_clears_it(superuser_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = superuser_client.post(_change_url(customer), _form(customer, country="DE", subdivision=""))

    assert response.status_code == 302, _form_errors(response)
    customer.refresh_from_db()
    assert (customer.country, customer.subdivision) == ("DE", "")


def test_the_change_form_shows_the_subdivision(superuser_client):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")

    response = superuser_client.get(_change_url(customer))

    assert response.status_code == 200
    assert response.context["adminform"].form.initial["subdivision"] == "QC"


def test_support_may_change_the_subdivision(db):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")
    client = sign_in_verified(Client(), staff_in_role("support"))

    response = client.post(_change_url(customer), _form(customer, subdivision="BC"))

    assert response.status_code == 302, _form_errors(response)
    customer.refresh_from_db()
    assert customer.subdivision == "BC"


def test_finance_who_may_only_view_customers_cannot_change_the_subdivision(db):
    customer = CustomerFactory(country="CA", subdivision="QC", currency="CAD")
    client = sign_in_verified(Client(), staff_in_role("finance"))

    response = client.post(_change_url(customer), _form(customer, subdivision="BC"))

    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.subdivision == "QC"
