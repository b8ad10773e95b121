"""How tax registrations and rates look outside: one function each, which the API answers with
and events carry."""

import datetime as dt

from integrations.kernel.representation import datetime_repr
from payments.tax.models import TaxRate, TaxRegistration
from payments.tax.rules import rate_repr
from payments.tax.selectors import tax_today


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def tax_registration_repr(registration: TaxRegistration, *, today: dt.date | None = None) -> dict:
    return {
        "id": registration.id,
        "country": registration.country,
        "subdivision": registration.subdivision or None,
        "scheme": registration.scheme,
        "number": registration.number,
        "active_from": _date(registration.active_from),
        "expires_at": _date(registration.expires_at),
        "status": registration.status_on(today or tax_today()),
        "created_at": datetime_repr(registration.created_at),
        "updated_at": datetime_repr(registration.updated_at),
    }


def tax_rate_repr(rate: TaxRate) -> dict:
    return {
        "country": rate.country,
        "subdivision": rate.subdivision or None,
        "category": rate.category,
        "name": rate.name,
        "rate": rate_repr(rate.rate),
        "adds_to_country": rate.adds_to_country,
        "valid_from": _date(rate.valid_from),
        "valid_to": _date(rate.valid_to),
        "source": rate.source,
        "source_date": _date(rate.source_date),
    }
