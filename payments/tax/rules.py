"""The tax rules as functions of plain values: where a sale is taxed and on what evidence
(`tax_evidence_evaluate`), what is owed there (`tax_decide`), and the arithmetic of an invoice's
lines (`tax_lines`). No invoice, no model: payments calls these with countries, ids' statuses,
amounts and a behaviour, and stores what comes back.

`tax_decide` reads the registrations and rates from a `TaxTable` (plain frozen values). Without
one it loads it (two small queries); a batch loads it once and passes it to every call.

Money is exact: amounts are quantized to their currency's minor unit (payments.currency: JPY 0
digits, EUR 2, KWD 3; half-up), the tax of one rate is computed once over the invoice and spread
back over its lines by largest remainder, so the lines add up to the invoice exactly."""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from typing import Literal

from integrations.kernel.errors import InvalidRequest
from payments.currency import CurrencyError, is_valid_country, minor_digits, quantize

DIGITAL_SERVICES = "digital_services"

# The EU-27 (ISO 3166-1 alpha-2: Greece is GR, though its VAT ids start with EL).
EU_MEMBER_STATES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)
# Countries whose registrations and rates may name a subdivision (ISO 3166-2: a state, a province).
SUBDIVISION_COUNTRIES = frozenset({"US", "CA"})
# VAT-id prefixes that are not the ISO code of their country.
_VAT_PREFIX_COUNTRY = {"EL": "GR"}

Behavior = Literal["inclusive", "exclusive"]
BEHAVIORS = ("inclusive", "exclusive")
TaxIdStatus = Literal["unverified", "verified", "invalid"]

SCHEME_DOMESTIC, SCHEME_EU_OSS, SCHEME_UK, SCHEME_OTHER = "domestic", "eu_oss", "uk", "other"

ZERO = Decimal(0)


def tax_day(at: dt.date | dt.datetime) -> dt.date:
    """The calendar day (UTC) of `at`: registrations and rates are dated by day."""
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise ValueError("`at` must be an aware datetime (UTC) or a date.")
        return at.astimezone(dt.UTC).date()
    if isinstance(at, dt.date):
        return at
    raise TypeError(f"`at` is a date or a datetime, not {type(at).__name__}.")


def _country_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    code = _VAT_PREFIX_COUNTRY.get(code, code)
    return code if is_valid_country(code) else None


# --- Place of supply and its evidence ------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Where the customer is: `country` (the billing country, which decides), and whether at
    least two pieces of evidence agree on it (`conclusive`); `pieces` is what each one said
    (None where it was not given or not a country), as an invoice stores it."""

    country: str
    conclusive: bool
    pieces: Mapping[str, str | None]


def tax_evidence_evaluate(
    *, billing_country: str, card_country: str | None = None, ip_country: str | None = None
) -> Evidence:
    """The billing country decides; the card's issuing country and the IP country the app reports
    are evidence. Conclusive when at least one of them agrees with the billing country (two pieces
    agree). Two pieces agreeing with each other against the billing country are not conclusive:
    they contradict the country taxed. Evidence that is not an ISO country is left out (None)."""
    billing = _country_or_none(billing_country)
    if billing is None:
        raise InvalidRequest(
            f"'{billing_country}' is not an ISO 3166-1 alpha-2 country code.",
            code="parameter_invalid",
            param="billing_country",
        )
    card, ip = _country_or_none(card_country), _country_or_none(ip_country)
    agreeing = 1 + (card == billing) + (ip == billing)
    return Evidence(
        country=billing,
        conclusive=agreeing >= 2,
        pieces={"billing_country": billing, "card_country": card, "ip_country": ip},
    )


# --- What tax knows: registrations and rates, as plain values -------------------------------------


@dataclass(frozen=True)
class RegistrationFact:
    id: str
    country: str
    subdivision: str  # "" for a whole country
    scheme: str
    active_from: dt.date
    expires_at: dt.date | None

    def active_on(self, day: dt.date) -> bool:
        return self.active_from <= day and (self.expires_at is None or day < self.expires_at)


@dataclass(frozen=True)
class RateFact:
    country: str
    subdivision: str  # "" for the country-wide rate
    category: str
    name: str
    rate: Decimal
    adds_to_country: bool
    valid_from: dt.date
    valid_to: dt.date | None

    def in_force_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True)
class TaxTable:
    """Every registration and rate row, and the seller's country (settings.TAX_SELLER_COUNTRY)."""

    registrations: tuple[RegistrationFact, ...]
    rates: tuple[RateFact, ...]
    seller_country: str = ""
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        index: dict[tuple[str, str, str], list[RateFact]] = {}
        for row in self.rates:
            index.setdefault((row.country, row.subdivision, row.category), []).append(row)
        object.__setattr__(self, "_index", index)

    def rate_row(self, *, country: str, subdivision: str, category: str, day: dt.date) -> RateFact | None:
        """The row in force on `day` for the category; where the place has no row of that category
        at all, its standard (digital_services) row: a reduced category exists only where a
        country taxes it lower."""
        rows = self._index.get((country, subdivision, category))
        if rows is None and category != DIGITAL_SERVICES:
            rows = self._index.get((country, subdivision, DIGITAL_SERVICES))
        return next((row for row in rows or () if row.in_force_on(day)), None)

    def active_registrations(self, day: dt.date) -> list[RegistrationFact]:
        return [registration for registration in self.registrations if registration.active_on(day)]


# --- The decision -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxComponent:
    """One tax of a decision: its name on the invoice (VAT, GST, HST, QST, PST), its rate, and the
    registration it is collected under."""

    name: str
    rate: Decimal
    country: str
    subdivision: str | None
    registration_id: str


@dataclass(frozen=True)
class TaxDecision:
    """What a sale owes. `collecting`: the seller charges tax at `rate` (the sum of `components`:
    Quebec's GST 5% + QST 9.975% is one rate of 0.14975, computed once on the net, which keeps
    an invoice's lines exact; the components say how it splits). `reverse_charge`: the business
    customer accounts for the tax (rate 0; the invoice says "Reverse charge"). Neither: nothing
    is taxed (`reason` says why: not_registered or no_rate)."""

    rate: Decimal
    country: str
    subdivision: str | None
    reverse_charge: bool
    collecting: bool
    registration_id: str | None
    components: tuple[TaxComponent, ...] = ()
    reason: str = "collecting"  # collecting | reverse_charge | not_registered | no_rate


def _not_taxed(country: str, subdivision: str | None, reason: str, registration_id: str | None = None) -> TaxDecision:
    return TaxDecision(
        rate=ZERO,
        country=country,
        subdivision=subdivision,
        reverse_charge=False,
        collecting=False,
        registration_id=registration_id,
        reason=reason,
    )


# Which registration names a decision when several cover it: the country's own first.
_SCHEME_ORDER = {SCHEME_DOMESTIC: 0, SCHEME_UK: 0, SCHEME_OTHER: 1, SCHEME_EU_OSS: 2}


def _country_registration(active: list[RegistrationFact], country: str) -> RegistrationFact | None:
    """The registration that covers consumers of `country` as a whole: one held there (domestic,
    uk, other), else an EU OSS registration for an EU member state."""
    covering = [r for r in active if r.country == country and not r.subdivision and r.scheme != SCHEME_EU_OSS]
    if country in EU_MEMBER_STATES:
        covering += [r for r in active if r.scheme == SCHEME_EU_OSS]
    return min(covering, key=lambda r: (_SCHEME_ORDER.get(r.scheme, 9), r.active_from), default=None)


def _subdivision_registration(
    active: list[RegistrationFact], country: str, subdivision: str
) -> RegistrationFact | None:
    covering = [r for r in active if r.country == country and r.subdivision == subdivision]
    return min(covering, key=lambda r: (_SCHEME_ORDER.get(r.scheme, 9), r.active_from), default=None)


def _reverse_charge_registration(
    active: list[RegistrationFact], *, seller_country: str, tax_id_status: str | None, tax_id_country: str | None
) -> RegistrationFact | None:
    """The EU registration under which a business customer is reverse-charged, if it is: a
    verified EU VAT id of another member state than the seller's, while the seller collects EU VAT
    (an active registration in a member state). A seller outside the EU reverse-charges every EU
    business (VAT Directive art. 196: the customer accounts for the tax); an unverified or invalid
    id, or a failed VIES check, never exempts."""
    if tax_id_status != "verified":
        return None
    id_country = _country_or_none(tax_id_country)
    if id_country not in EU_MEMBER_STATES or id_country == seller_country:
        return None
    in_eu = [r for r in active if r.country in EU_MEMBER_STATES]
    home = [r for r in in_eu if r.country == seller_country and r.scheme == SCHEME_DOMESTIC]
    return min(home or in_eu, key=lambda r: (_SCHEME_ORDER.get(r.scheme, 9), r.active_from), default=None)


def tax_decide(
    *,
    at: dt.date | dt.datetime,
    customer_country: str,
    customer_subdivision: str | None = None,
    tax_id_status: TaxIdStatus | None = None,
    tax_id_country: str | None = None,
    category: str = DIGITAL_SERVICES,
    table: TaxTable | None = None,
) -> TaxDecision:
    """What a sale on `at` to a customer in `customer_country` (the evidence's country) owes.

    - Nothing where no registration is active on that day: tax is enabled region by region.
    - A verified EU VAT id of another member state than TAX_SELLER_COUNTRY: reverse charge (0).
    - Otherwise (consumers, and businesses whose id is unverified, invalid or of the seller's own
      member state), the customer's country's rate if a registration covers it: one held in that
      country, or an `eu_oss` registration for any EU member state.
    - US and Canada: the country-wide rate under the country's registration (Canada's GST); a
      subdivision row either replaces it (HST, under the same registration) or is added to it
      (QST, PST, a US state's tax), under a registration in that subdivision. The decision's rate
      is the sum, its components the parts.
    - A registration with no rate row in force for the place: not collecting, reason `no_rate`."""
    if table is None:
        from payments.tax.selectors import tax_table_load  # the rules stay free of queries when given a table

        table = tax_table_load()
    day = tax_day(at)
    country = _country_or_none(customer_country)
    if country is None:
        raise InvalidRequest(
            f"'{customer_country}' is not an ISO 3166-1 alpha-2 country code.",
            code="parameter_invalid",
            param="customer_country",
        )
    subdivision = ""
    if country in SUBDIVISION_COUNTRIES:  # "QC" or "CA-QC"; elsewhere a subdivision changes nothing
        subdivision = (customer_subdivision or "").strip().upper().removeprefix(f"{country}-")
    shown_subdivision = subdivision or None
    active = table.active_registrations(day)
    if not active:
        return _not_taxed(country, shown_subdivision, "not_registered")

    if country in EU_MEMBER_STATES:
        reverse = _reverse_charge_registration(
            active, seller_country=table.seller_country, tax_id_status=tax_id_status, tax_id_country=tax_id_country
        )
        if reverse is not None:
            return TaxDecision(
                rate=ZERO,
                country=country,
                subdivision=None,
                reverse_charge=True,
                collecting=False,
                registration_id=reverse.id,
                reason="reverse_charge",
            )

    national_registration = _country_registration(active, country)
    national = table.rate_row(country=country, subdivision="", category=category, day=day)
    local_registration = _subdivision_registration(active, country, subdivision) if subdivision else None
    local = (
        table.rate_row(country=country, subdivision=subdivision, category=category, day=day) if subdivision else None
    )

    components: list[TaxComponent] = []
    if local is not None and not local.adds_to_country:
        # A harmonized rate (HST) replaces the country's and is collected under its registration.
        if national_registration is not None:
            components.append(TaxComponent(local.name, local.rate, country, subdivision, national_registration.id))
    else:
        if national is not None and national_registration is not None:
            components.append(TaxComponent(national.name, national.rate, country, None, national_registration.id))
        if local is not None and local_registration is not None:
            components.append(TaxComponent(local.name, local.rate, country, subdivision, local_registration.id))

    if not components:
        registered = national_registration or local_registration
        if registered is None:
            return _not_taxed(country, shown_subdivision, "not_registered")
        return _not_taxed(country, shown_subdivision, "no_rate", registered.id)
    return TaxDecision(
        rate=sum((c.rate for c in components), ZERO),
        country=country,
        subdivision=shown_subdivision,
        reverse_charge=False,
        collecting=True,
        registration_id=components[0].registration_id,
        components=tuple(components),
    )


# --- The arithmetic of lines ----------------------------------------------------------------------


@dataclass(frozen=True)
class LineTax:
    """A line's net (without tax), tax and gross (what is charged), each in the currency's minor
    unit, with net + tax == gross."""

    net: Decimal
    tax: Decimal
    gross: Decimal


def tax_rate_checked(rate: object, *, param: str = "rate") -> Decimal:
    """A rate as a Decimal fraction from 0 up to (not including) 1, never a float."""
    if isinstance(rate, bool) or not isinstance(rate, Decimal | int | str):
        raise InvalidRequest("A tax rate is a decimal fraction such as 0.19.", code="parameter_invalid", param=param)
    try:
        value = Decimal(str(rate).strip()) if isinstance(rate, str) else Decimal(rate)
    except InvalidOperation:
        raise InvalidRequest(f"'{rate}' is not a decimal rate.", code="parameter_invalid", param=param) from None
    if not value.is_finite() or not ZERO <= value < 1:
        raise InvalidRequest(
            "A tax rate is a fraction from 0 to below 1 (0.19 is 19%).", code="parameter_invalid", param=param
        )
    return value


def _amount_checked(amount: object, currency: str) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise CurrencyError("A line amount is a Decimal (never a float).", code="amount_invalid")
    value = Decimal(amount)
    if not value.is_finite() or value < 0:
        raise CurrencyError("A line amount is a finite amount, not negative.", code="amount_invalid")
    if value != quantize(value, currency):
        raise CurrencyError(
            f"{value} has more digits than {currency}'s minor unit; round the line first.", code="amount_too_precise"
        )
    return quantize(value, currency)


def _spread(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """`total` split over `weights` in proportion, in whole minor units, by largest remainder: each
    share is floored, and the units left over go to the largest remainders (ties: the larger
    weight, then the earlier line). The shares add up to `total` exactly; a zero weight gets 0."""
    digits = minor_digits(currency)
    units = int(total.scaleb(digits))
    weight_units = [int(weight.scaleb(digits)) for weight in weights]
    whole = sum(weight_units)
    if whole == 0:
        return [quantize(ZERO, currency) for _ in weights]
    shares = [units * weight // whole for weight in weight_units]
    remainders = [units * weight % whole for weight in weight_units]
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], -weight_units[i], i))
    for index in order[: units - sum(shares)]:
        shares[index] += 1
    return [quantize(Decimal(share).scaleb(-digits), currency) for share in shares]


def tax_lines(*, amounts: Sequence[Decimal], currency: str, rate: Decimal, behavior: Behavior) -> list[LineTax]:
    """The tax of an invoice's lines at one rate (the amounts after discounts).

    inclusive: the amounts are gross and stay so; the invoice's net is round(gross / (1 + rate)),
    its tax gross - net, spread over the lines. exclusive: the amounts are net; the invoice's tax
    is round(net * rate), spread over the lines, each line's gross net + tax. Rounding is the
    currency's (half-up, minor unit). Lines may be zero; nothing is negative."""
    if behavior not in BEHAVIORS:
        raise InvalidRequest(
            f"Tax behaviour is one of {', '.join(BEHAVIORS)}.", code="parameter_invalid", param="tax_behavior"
        )
    rate = tax_rate_checked(rate)
    values = [_amount_checked(amount, currency) for amount in amounts]
    total = quantize(sum(values, ZERO), currency)
    with localcontext() as context:
        context.prec = 60  # far more than any amount's digits: the quotient is exact before rounding
        if behavior == "inclusive":
            net_total = quantize(total / (1 + rate), currency)
            taxes = _spread(total - net_total, values, currency)
            return [LineTax(net=quantize(v - t, currency), tax=t, gross=v) for v, t in zip(values, taxes, strict=True)]
        taxes = _spread(quantize(total * rate, currency), values, currency)
    return [LineTax(net=v, tax=t, gross=quantize(v + t, currency)) for v, t in zip(values, taxes, strict=True)]


def tax_lines_per_rate(
    *, amounts: Sequence[Decimal], rates: Sequence[Decimal], currency: str, behavior: Behavior
) -> list[LineTax]:
    """`tax_lines` for an invoice whose lines have different rates: the tax of each rate computed
    once over that rate's lines (as a VAT invoice shows it, per rate), answered in the lines' order."""
    if len(amounts) != len(rates):
        raise ValueError("One rate per amount.")
    checked = [tax_rate_checked(rate) for rate in rates]
    groups: dict[Decimal, list[int]] = {}
    for index, rate in enumerate(checked):
        groups.setdefault(rate, []).append(index)
    result: list[LineTax | None] = [None] * len(amounts)
    for rate, indexes in groups.items():
        lines = tax_lines(amounts=[amounts[i] for i in indexes], currency=currency, rate=rate, behavior=behavior)
        for index, line in zip(indexes, lines, strict=True):
            result[index] = line
    return result  # type: ignore[return-value]


def rate_repr(rate: Decimal) -> str:
    """A rate as the API writes it: "0.19", "0.09975", "0" (no trailing zeros, never an exponent)."""
    text = f"{Decimal(rate):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
