"""Tax for tests: the shipped rates in the table (tests run without migrations, so the data
migration has not loaded them), registrations made by the service, and a tax table built by hand."""

import datetime as dt
from decimal import Decimal

from payments.tax.data import shipped_rates, shipped_rates_load
from payments.tax.models import TaxRate, TaxRegistration
from payments.tax.rules import RateFact, RegistrationFact, TaxTable
from payments.tax.services import tax_registration_create


def shipped_rates_loaded() -> int:
    """Load rates.csv into the table, as migration 0013 does; answers how many rows were added."""
    return shipped_rates_load(TaxRate)


def registration(**overrides) -> TaxRegistration:
    """A registration made by the service (the rates of its country must be loaded)."""
    values = {"country": "DE", "scheme": "domestic", "number": "DE123456789", "active_from": dt.date(2020, 1, 1)}
    return tax_registration_create(**{**values, **overrides})


def shipped_rate_facts() -> tuple[RateFact, ...]:
    return tuple(
        RateFact(
            country=row.country,
            subdivision=row.subdivision,
            category=row.category,
            name=row.name,
            rate=row.rate,
            adds_to_country=row.adds_to_country,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
        )
        for row in shipped_rates()
    )


def table(*registrations: tuple, seller: str = "DE", rates: tuple[RateFact, ...] | None = None) -> TaxTable:
    """A tax table with the shipped rates and these registrations, each
    (country, subdivision, scheme[, active_from[, expires_at]]); ids are txr_<n>."""
    facts = []
    for index, spec in enumerate(registrations, start=1):
        country, subdivision, scheme, *dates = spec
        active_from = dates[0] if dates else dt.date(2000, 1, 1)
        expires_at = dates[1] if len(dates) > 1 else None
        facts.append(RegistrationFact(f"txr_{index}", country, subdivision, scheme, active_from, expires_at))
    return TaxTable(
        registrations=tuple(facts),
        rates=shipped_rate_facts() if rates is None else rates,
        seller_country=seller,
    )


def percent(value: str) -> Decimal:
    return Decimal(value) / 100
