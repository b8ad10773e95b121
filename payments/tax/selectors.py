"""Reads of tax registrations and rates."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet

from integrations.kernel import clock
from integrations.kernel.errors import NotFound
from payments.tax.models import DIGITAL_SERVICES, TaxRate, TaxRegistration
from payments.tax.rules import RateFact, RegistrationFact, TaxTable, tax_day


def tax_today() -> dt.date:
    """Today for tax (UTC, on the billing clock: `run_billing --as-of` moves it)."""
    return tax_day(clock.now())


def tax_registration_get(*, registration_id: str) -> TaxRegistration:
    registration = TaxRegistration.objects.filter(pk=registration_id).first()
    if registration is None:
        raise NotFound(f"No tax registration '{registration_id}'.")
    return registration


def _active_on(day: dt.date) -> Q:
    return Q(active_from__lte=day) & (Q(expires_at__isnull=True) | Q(expires_at__gt=day))


def tax_registration_list(
    *, country: str | None = None, scheme: str | None = None, status: str | None = None
) -> QuerySet[TaxRegistration]:
    """Registrations, newest first; `status` as on today (active, scheduled, expired)."""
    registrations = TaxRegistration.objects.all()
    if country:
        registrations = registrations.filter(country=country.upper())
    if scheme:
        registrations = registrations.filter(scheme=scheme)
    if status:
        today = tax_today()
        if status == TaxRegistration.Status.ACTIVE:
            registrations = registrations.filter(_active_on(today))
        elif status == TaxRegistration.Status.SCHEDULED:
            registrations = registrations.filter(active_from__gt=today)
        else:
            registrations = registrations.filter(expires_at__lte=today)
    return registrations


def _in_force_on(day: dt.date) -> Q:
    return Q(valid_from__lte=day) & (Q(valid_to__isnull=True) | Q(valid_to__gt=day))


def tax_rates_in_force(
    *, at: dt.date, country: str | None = None, subdivision: str | None = None, category: str | None = None
) -> QuerySet[TaxRate]:
    """The rate rows in force on `at`. With a country, its country-wide rows and (with a
    subdivision) that subdivision's; without a subdivision, only the country-wide rows."""
    rates = TaxRate.objects.filter(_in_force_on(at))
    if country:
        rates = rates.filter(country=country.upper())
        places = Q(subdivision="")
        if subdivision:
            places |= Q(subdivision=subdivision.upper())
        rates = rates.filter(places)
    if category:
        rates = rates.filter(category=category)
    return rates


def tax_rate_row_at(
    *, country: str, subdivision: str | None, category: str, at: dt.date | dt.datetime
) -> TaxRate | None:
    """The row of the place and category in force at `at`; where the place has no row of that
    category at all, its standard (digital_services) row, as tax_decide reads them."""
    day = tax_day(at)
    place = TaxRate.objects.filter(country=country.upper(), subdivision=(subdivision or "").upper())
    wanted = place.filter(category=category)
    if category != DIGITAL_SERVICES and not wanted.exists():
        wanted = place.filter(category=DIGITAL_SERVICES)
    return wanted.filter(_in_force_on(day)).first()


def tax_rate_at(*, country: str, subdivision: str | None, category: str, at: dt.date | dt.datetime) -> Decimal | None:
    """The rate (a fraction) of the place and category in force at `at`, or None where none is."""
    row = tax_rate_row_at(country=country, subdivision=subdivision, category=category, at=at)
    return None if row is None else row.rate


def _rates_wanted(registrations: tuple, countries: list[str] | None) -> QuerySet[TaxRate]:
    if not registrations:  # tax is off: no decision reads a rate
        return TaxRate.objects.none()
    if countries is None:
        return TaxRate.objects.all()
    return TaxRate.objects.filter(country__in=countries)


def tax_table_load(*, countries: list[str] | None = None) -> TaxTable:
    """The registrations and rate rows as plain values, with the seller's country: what
    `tax_decide` reads. A batch loads it once for all its invoices (two queries); one invoice
    reads only its country's rates (`countries`), and no rate at all while nothing is registered."""
    registrations = tuple(
        RegistrationFact(
            id=r.id,
            country=r.country,
            subdivision=r.subdivision,
            scheme=r.scheme,
            active_from=r.active_from,
            expires_at=r.expires_at,
        )
        for r in TaxRegistration.objects.order_by("active_from", "id")
    )
    rates = tuple(
        RateFact(
            country=r.country,
            subdivision=r.subdivision,
            category=r.category,
            name=r.name,
            rate=r.rate,
            adds_to_country=r.adds_to_country,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
        )
        for r in _rates_wanted(registrations, countries).order_by("country", "subdivision", "category", "valid_from")
    )
    return TaxTable(registrations=registrations, rates=rates, seller_country=settings.TAX_SELLER_COUNTRY)
