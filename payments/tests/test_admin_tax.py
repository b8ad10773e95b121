"""The admin's tax screens, for the finance role: registrations and rate rows added through the
services, errors shown on the field, a rate in force read-only, and no other role let in."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from conftest import sign_in_verified, staff_in_role
from integrations.kernel.clock import running_at
from integrations.kernel.models import AuditEvent
from integrations.models import Event
from payments.tax.models import TaxRate, TaxRegistration
from payments.tests.tax_helpers import shipped_rates_loaded

pytestmark = pytest.mark.django_db

REGISTRATIONS = "/admin/payments/taxregistration/"
RATES = "/admin/payments/taxrate/"


@pytest.fixture(autouse=True)
def _rates_and_today(settings):
    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()
    with running_at(timezone.make_aware(dt.datetime(2026, 6, 1, 12), dt.UTC)):
        yield


def _staff(role: str) -> Client:
    return sign_in_verified(Client(), staff_in_role(role))


def _registration_form(**overrides) -> dict:
    return {
        "country": "DE",
        "subdivision": "",
        "scheme": "eu_oss",
        "number": "DE123456789",
        "active_from": "2026-07-01",
        "expires_at": "",
        **overrides,
    }


def _rate_form(**overrides) -> dict:
    return {
        "country": "DE",
        "subdivision": "",
        "category": "digital_services",
        "name": "VAT",
        "rate": "0.20",
        "valid_from": "2026-07-01",
        "source": "https://example.org/bgbl-2026",
        "source_date": "2026-05-01",
        **overrides,
    }


def test_finance_sees_the_tax_screens_in_its_group():
    finance = _staff("finance")

    index = finance.get("/admin/").content.decode()

    assert REGISTRATIONS in index and RATES in index
    assert finance.get(REGISTRATIONS).status_code == 200
    assert finance.get(RATES).status_code == 200


def test_finance_adds_a_registration_through_the_service():
    finance = _staff("finance")

    response = finance.post(f"{REGISTRATIONS}add/", _registration_form())

    assert response.status_code == 302, response.context["adminform"].form.errors
    registration = TaxRegistration.objects.get()
    assert (registration.country, registration.scheme, registration.active_from) == (
        "DE",
        "eu_oss",
        dt.date(2026, 7, 1),
    )
    assert Event.objects.filter(type="tax_registration.created").count() == 1
    audit = AuditEvent.objects.get(action="tax_registration.created")
    assert audit.actor_name == "finance-user"


def test_a_bad_registration_is_shown_on_its_field_and_nothing_is_saved():
    finance = _staff("finance")

    response = finance.post(f"{REGISTRATIONS}add/", _registration_form(country="US", scheme="domestic"))

    assert response.status_code == 200
    assert "subdivision" in response.context["adminform"].form.errors
    assert not TaxRegistration.objects.exists()


def test_finance_expires_a_registration_and_cannot_move_it_to_another_country():
    finance = _staff("finance")
    finance.post(f"{REGISTRATIONS}add/", _registration_form(active_from="2026-01-01"))
    registration = TaxRegistration.objects.get()

    response = finance.post(
        f"{REGISTRATIONS}{registration.pk}/change/",
        {"number": "DE123456789", "active_from": "2026-01-01", "expires_at": "2026-12-01", "country": "FR"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    registration.refresh_from_db()
    assert (registration.expires_at, registration.country) == (dt.date(2026, 12, 1), "DE")  # country is read-only
    assert Event.objects.filter(type="tax_registration.updated").count() == 1


def test_finance_adds_a_rate_row_and_the_row_in_force_ends_where_it_starts():
    finance = _staff("finance")
    old = TaxRate.objects.get(country="DE", valid_to__isnull=True)

    response = finance.post(f"{RATES}add/", _rate_form())

    assert response.status_code == 302, response.context["adminform"].form.errors
    old.refresh_from_db()
    new = TaxRate.objects.get(country="DE", valid_to__isnull=True)
    assert (old.valid_to, new.rate, new.valid_from) == (dt.date(2026, 7, 1), Decimal("0.20"), dt.date(2026, 7, 1))
    assert AuditEvent.objects.filter(action="tax_rate.created", object_id=str(new.pk)).exists()
    assert AuditEvent.objects.filter(action="tax_rate.updated", object_id=str(old.pk)).exists()


def test_a_rate_written_as_a_percentage_is_refused_on_its_field():
    finance = _staff("finance")

    response = finance.post(f"{RATES}add/", _rate_form(rate="19"))

    assert response.status_code == 200
    assert "rate" in response.context["adminform"].form.errors
    assert TaxRate.objects.filter(country="DE", valid_to__isnull=True).get().rate == Decimal("0.19")


def test_a_rate_in_force_is_read_only_and_one_not_in_force_yet_can_be_corrected():
    finance = _staff("finance")
    in_force = TaxRate.objects.get(country="DE", valid_to__isnull=True)
    finance.post(f"{RATES}add/", _rate_form())
    scheduled = TaxRate.objects.get(country="DE", valid_from=dt.date(2026, 7, 1))

    refused = finance.post(
        f"{RATES}{in_force.pk}/change/", {"rate": "0.5", "name": "VAT", "source": "x", "source_date": "2026-01-01"}
    )
    corrected = finance.post(
        f"{RATES}{scheduled.pk}/change/",
        {"name": "VAT", "rate": "0.195", "source": "https://example.org/fixed", "source_date": "2026-05-02"},
    )

    assert refused.status_code == 403
    in_force.refresh_from_db()
    assert in_force.rate == Decimal("0.19")
    assert corrected.status_code == 302, corrected.context["adminform"].form.errors
    scheduled.refresh_from_db()
    assert (scheduled.rate, scheduled.valid_from) == (Decimal("0.195"), dt.date(2026, 7, 1))
    assert finance.get(f"{RATES}{in_force.pk}/change/").status_code == 200  # shown, read-only


def test_nobody_deletes_a_rate_or_a_registration():
    finance = _staff("finance")
    row = TaxRate.objects.first()

    assert finance.post(f"{RATES}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TaxRate.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("role", ["support", "marketing", "catalogue"])
def test_other_roles_can_neither_add_a_registration_nor_a_rate(role):
    staff = _staff(role)

    assert staff.get(f"{REGISTRATIONS}add/").status_code == 403
    assert staff.post(f"{REGISTRATIONS}add/", _registration_form()).status_code == 403
    assert staff.post(f"{RATES}add/", _rate_form()).status_code == 403
    assert staff.get(RATES).status_code == 403
    assert not TaxRegistration.objects.exists()
    assert TaxRate.objects.filter(valid_from=dt.date(2026, 7, 1)).count() == 0
