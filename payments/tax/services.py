"""Writes of tax registrations and rates. The admin and the API call these, and their checks
(`tax_registration_validate`, `tax_rate_validate`) are the admin forms' checks too."""

import datetime as dt
import re
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from integrations.kernel.db import lock_name
from integrations.kernel.errors import Conflict, InvalidRequest
from integrations.services import event_emit
from payments.currency import is_valid_country
from payments.tax.data import SOURCE_MAX_LENGTH
from payments.tax.models import DIGITAL_SERVICES, TaxRate, TaxRegistration
from payments.tax.representations import tax_registration_repr
from payments.tax.rules import EU_MEMBER_STATES, SUBDIVISION_COUNTRIES, tax_rate_checked
from payments.tax.selectors import tax_today
from payments.tax.subdivisions import SUBDIVISIONS

# Canada's harmonized provinces: their HST is collected under the federal GST/HST registration.
HST_PROVINCES = frozenset({"ON", "NS", "NB", "NL", "PE"})
_REGISTRATION_LOCK = "tax-registrations"
_IMMUTABLE = ("country", "subdivision", "scheme")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, code="parameter_invalid", param=param)


def _country(value: object, param: str = "country") -> str:
    code = value.strip().upper() if isinstance(value, str) else ""
    if not is_valid_country(code):
        raise _invalid(f"'{value}' is not an ISO 3166-1 alpha-2 country code.", param)
    return code


def _subdivision(country: str, value: object) -> str:
    """'' or the subdivision's code (QC, not CA-QC), of a country whose subdivisions are taxed."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise _invalid("A subdivision is a code such as QC or NY.", "subdivision")
    code = value.strip().upper().removeprefix(f"{country}-")
    if country not in SUBDIVISION_COUNTRIES:
        raise _invalid(f"Only the United States and Canada take a subdivision; {country} does not.", "subdivision")
    if code not in SUBDIVISIONS[country]:  # the customers' list: states, DC, provinces and territories
        raise _invalid(f"'{value}' is not a subdivision of {country} (ISO 3166-2, e.g. QC or NY).", "subdivision")
    return code


def _date(value: object, param: str, *, allow_none: bool = False) -> dt.date | None:
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise _invalid(f"{param} is a date (YYYY-MM-DD).", param) from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise _invalid(f"{param} is a date (YYYY-MM-DD).", param)
    return value


def _text(value: object, param: str, *, max_length: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise _invalid(f"{param} is required.", param)
    if len(text) > max_length or any(ord(ch) < 32 for ch in text):
        raise _invalid(f"{param} is one line of at most {max_length} characters.", param)
    return text


# --- Registrations --------------------------------------------------------------------------------


def _scheme_checked(*, scheme: object, country: str, subdivision: str) -> str:
    if scheme not in TaxRegistration.Scheme.values:
        raise _invalid(f"scheme is one of {', '.join(TaxRegistration.Scheme.values)}.", "scheme")
    seller = settings.TAX_SELLER_COUNTRY
    if scheme == TaxRegistration.Scheme.EU_OSS:
        if country not in EU_MEMBER_STATES:
            raise _invalid("An eu_oss registration is held in an EU member state.", "country")
        if seller in EU_MEMBER_STATES and country != seller:
            raise _invalid(
                f"A seller established in the EU ({seller}) holds the Union OSS in its own member state: country {seller}.",
                "country",
            )
    elif scheme == TaxRegistration.Scheme.UK and country != "GB":
        raise _invalid("The uk scheme is for the United Kingdom: country GB.", "scheme")
    elif country == "GB" and scheme != TaxRegistration.Scheme.UK:
        raise _invalid("A United Kingdom registration has the uk scheme.", "scheme")
    if country == "US" and not subdivision:
        raise _invalid(
            "A United States registration is held in a state: give its subdivision (e.g. NY).", "subdivision"
        )
    if country == "CA" and subdivision in HST_PROVINCES:
        raise _invalid(
            f"{subdivision}'s HST is collected under the federal GST/HST registration: leave subdivision empty.",
            "subdivision",
        )
    return scheme


def tax_registration_validate(*, registration: TaxRegistration | None = None, **fields) -> dict:
    """The registration's fields checked and normalized (those given; for an existing
    registration, the rest as they are). Raises InvalidRequest naming the field, or Conflict
    `tax_registration_overlaps` where a registration of the same place and scheme covers a day
    of this one's."""
    current = {}
    if registration is not None:
        for name in _IMMUTABLE:
            if (
                name in fields
                and fields[name] != getattr(registration, name)
                and not (name == "subdivision" and not fields[name] and not registration.subdivision)
            ):
                raise _invalid(f"A registration's {name} cannot change: expire it and create a new one.", name)
        current = {
            "country": registration.country,
            "subdivision": registration.subdivision,
            "scheme": registration.scheme,
            "number": registration.number,
            "active_from": registration.active_from,
            "expires_at": registration.expires_at,
        }
        moved = "active_from" in fields and fields["active_from"] != registration.active_from
        if moved and registration.active_from <= tax_today():
            raise _invalid("active_from cannot change once the registration has started.", "active_from")
    unknown = set(fields) - {"country", "subdivision", "scheme", "number", "active_from", "expires_at"}
    if unknown:
        raise _invalid(f"Unknown field {sorted(unknown)[0]}.", sorted(unknown)[0])
    values = {**current, **fields}
    country = _country(values.get("country"))
    subdivision = _subdivision(country, values.get("subdivision"))
    scheme = _scheme_checked(scheme=values.get("scheme"), country=country, subdivision=subdivision)
    number = _text(values.get("number"), "number", max_length=TaxRegistration._meta.get_field("number").max_length)
    active_from = _date(values.get("active_from"), "active_from")
    expires_at = _date(values.get("expires_at"), "expires_at", allow_none=True)
    if expires_at is not None and expires_at <= active_from:
        raise _invalid(
            "expires_at is after active_from (the first day the registration no longer applies).", "expires_at"
        )
    if not TaxRate.objects.filter(country=country, subdivision=subdivision).exists():
        where = f"{country}-{subdivision}" if subdivision else country
        raise _invalid(
            f"No tax rates for {where}: add its rates first, then register.",
            "subdivision" if subdivision else "country",
        )
    _overlap_refused(
        registration=registration,
        country=country,
        subdivision=subdivision,
        scheme=scheme,
        active_from=active_from,
        expires_at=expires_at,
    )
    return {
        "country": country,
        "subdivision": subdivision,
        "scheme": scheme,
        "number": number,
        "active_from": active_from,
        "expires_at": expires_at,
    }


def _overlap_refused(*, registration, country, subdivision, scheme, active_from, expires_at) -> None:
    # One eu_oss registration at a time, wherever held; of the others, one per place and scheme.
    same = TaxRegistration.objects.filter(scheme=scheme)
    if scheme != TaxRegistration.Scheme.EU_OSS:
        same = same.filter(country=country, subdivision=subdivision)
    if registration is not None:
        same = same.exclude(pk=registration.pk)
    for other in same:
        starts_before_other_ends = other.expires_at is None or active_from < other.expires_at
        ends_after_other_starts = expires_at is None or expires_at > other.active_from
        if starts_before_other_ends and ends_after_other_starts:
            raise Conflict(
                f"Registration {other.id} ({other}) already covers part of this period; expire it first.",
                code="tax_registration_overlaps",
                param="active_from",
            )


@transaction.atomic
def tax_registration_create(
    *,
    country: str,
    scheme: str,
    number: str,
    active_from: dt.date,
    subdivision: str | None = None,
    expires_at: dt.date | None = None,
) -> TaxRegistration:
    """Register a region for tax: from `active_from` its customers are taxed (tax_decide)."""
    lock_name(_REGISTRATION_LOCK)
    values = tax_registration_validate(
        country=country,
        subdivision=subdivision,
        scheme=scheme,
        number=number,
        active_from=active_from,
        expires_at=expires_at,
    )
    registration = TaxRegistration.objects.create(**values)
    event_emit(type="tax_registration.created", payload={"tax_registration": tax_registration_repr(registration)})
    return registration


@transaction.atomic
def tax_registration_update(*, registration: TaxRegistration, **changes) -> TaxRegistration:
    """Change a registration's number or expiry (and its start, while it has not started). Its
    country, subdivision and scheme stay: a different region is a new registration."""
    lock_name(_REGISTRATION_LOCK)
    registration = TaxRegistration.objects.select_for_update().get(pk=registration.pk)
    values = tax_registration_validate(registration=registration, **changes)
    changed = [name for name in ("number", "active_from", "expires_at") if getattr(registration, name) != values[name]]
    if not changed:
        return registration
    for name in changed:
        setattr(registration, name, values[name])
    registration.save(update_fields=[*changed, "updated_at"])
    event_emit(type="tax_registration.updated", payload={"tax_registration": tax_registration_repr(registration)})
    return registration


# --- Rates ------------------------------------------------------------------------------------------


def _category(value: object) -> str:
    category = value.strip() if isinstance(value, str) else ""
    if not _CATEGORY.match(category):
        raise _invalid("category is a lower-case word such as digital_services (at most 40 characters).", "category")
    return category


def _rate_value(value: object) -> Decimal:
    rate = tax_rate_checked(value)
    if rate.as_tuple().exponent < -5:
        raise _invalid("A rate has at most 5 decimals (0.09975).", "rate")
    return rate


def tax_rate_validate(*, rate_row: TaxRate | None = None, **fields) -> dict:
    """A rate row's fields checked and normalized (InvalidRequest naming the field). For a new
    row: country, subdivision, category, name, rate, adds_to_country, valid_from, source,
    source_date; for a row not yet in force, the ones that may change (name, rate, source,
    source_date)."""
    if rate_row is not None:
        editable = {"name", "rate", "source", "source_date"}
        locked = set(fields) - editable
        if locked:
            name = sorted(locked)[0]
            raise _invalid(f"A rate's {name} cannot change: add a new row instead.", name)
        fields = {
            "name": rate_row.name,
            "rate": rate_row.rate,
            "source": rate_row.source,
            "source_date": rate_row.source_date,
            **fields,
        }
        checked = {}
    else:
        country = _country(fields.get("country"))
        subdivision = _subdivision(country, fields.get("subdivision"))
        adds = fields.get("adds_to_country", False)
        if not isinstance(adds, bool):
            raise _invalid("adds_to_country is true or false.", "adds_to_country")
        if adds and not subdivision:
            raise _invalid("Only a subdivision's rate adds to the country-wide rate.", "adds_to_country")
        checked = {
            "country": country,
            "subdivision": subdivision,
            "category": _category(fields.get("category", DIGITAL_SERVICES)),
            "adds_to_country": adds,
            "valid_from": _date(fields.get("valid_from"), "valid_from"),
        }
    source_date = _date(fields.get("source_date"), "source_date")
    return {
        **checked,
        "name": _text(fields.get("name"), "name", max_length=TaxRate._meta.get_field("name").max_length),
        "rate": _rate_value(fields.get("rate")),
        "source": _text(fields.get("source"), "source", max_length=SOURCE_MAX_LENGTH),
        "source_date": source_date,
    }


@transaction.atomic
def tax_rate_add(
    *,
    country: str,
    name: str,
    rate: Decimal | str,
    valid_from: dt.date,
    source: str,
    source_date: dt.date,
    subdivision: str | None = None,
    category: str = DIGITAL_SERVICES,
    adds_to_country: bool = False,
) -> TaxRate:
    """A new rate row from `valid_from`. The row in force that day ends there (its valid_to
    becomes `valid_from`); the new one runs until the next row starts, or open-ended. A row in
    force is never rewritten for days already past: a new row that would end one before today is
    refused, so what past invoices were taxed at stays on record."""
    values = tax_rate_validate(
        country=country,
        subdivision=subdivision,
        category=category,
        name=name,
        rate=rate,
        adds_to_country=adds_to_country,
        valid_from=valid_from,
        source=source,
        source_date=source_date,
    )
    key = {k: values[k] for k in ("country", "subdivision", "category")}
    lock_name(f"tax-rates:{key['country']}:{key['subdivision']}:{key['category']}")
    start = values["valid_from"]
    rows = list(TaxRate.objects.select_for_update().filter(**key).order_by("valid_from"))
    if any(row.valid_from == start for row in rows):
        raise Conflict(
            f"A rate from {start} exists; change that row if it is not in force yet, or start this one another day.",
            code="tax_rate_exists",
            param="valid_from",
        )
    covering = next((row for row in rows if row.is_in_force_on(start)), None)
    following = next((row for row in rows if row.valid_from > start), None)
    if covering is not None and start < tax_today():
        raise InvalidRequest(
            f"The rate from {covering.valid_from} was in force on {start}: a change starts today or later "
            "(rates of days past stay as they were).",
            code="parameter_invalid",
            param="valid_from",
        )
    if covering is not None:
        valid_to = covering.valid_to
        covering.valid_to = start
        covering.save(update_fields=["valid_to"])
    else:
        valid_to = following.valid_from if following is not None else None
    return TaxRate.objects.create(**values, valid_to=valid_to)


@transaction.atomic
def tax_rate_update(*, rate_row: TaxRate, **changes) -> TaxRate:
    """Correct a row that is not in force yet (its name, rate or source); a row in force or
    past is never edited."""
    rate_row = TaxRate.objects.select_for_update().get(pk=rate_row.pk)
    if rate_row.valid_from <= tax_today():
        raise Conflict(
            f"The rate from {rate_row.valid_from} is in force or past: add a new row instead.",
            code="tax_rate_in_force",
            param="valid_from",
        )
    values = tax_rate_validate(rate_row=rate_row, **changes)
    changed = [name for name, value in values.items() if getattr(rate_row, name) != value]
    for name in changed:
        setattr(rate_row, name, values[name])
    if changed:
        rate_row.save(update_fields=changed)
    return rate_row
