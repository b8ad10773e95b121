"""The one place that knows currencies: ISO 4217 minor units, the rounding rule, minor-unit
conversion for gateways, and each country's default currency.

Rounding rule: half-up (ROUND_HALF_UP) to the currency's minor unit, everywhere.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

import pycountry
from babel.numbers import get_territory_currencies
from django.conf import settings
from moneyed import Currency, Money, get_currency
from moneyed.classes import CurrencyDoesNotExist

from integrations.kernel.errors import InvalidRequest

ROUNDING = ROUND_HALF_UP


class CurrencyError(InvalidRequest):
    """An unknown, disabled or badly formed currency, country or amount."""


@cache
def _currency(code: str) -> Currency:
    try:
        currency = get_currency(code)
    except CurrencyDoesNotExist:
        raise CurrencyError(f"'{code}' is not an ISO 4217 currency.", code="currency_invalid") from None
    if currency.sub_unit is None:  # precious metals and funds have no minor unit
        raise CurrencyError(f"'{code}' is not a currency that can be charged.", code="currency_invalid")
    return currency


def minor_digits(currency: str) -> int:
    """Digits after the decimal point: JPY 0, EUR 2, KWD 3 (ISO 4217, from py-moneyed's data)."""
    return len(str(_currency(currency).sub_unit)) - 1


def enabled_currencies() -> list[str]:
    return [code.upper() for code in settings.ENABLED_CURRENCIES]


def normalize_currency(code: object, *, require_enabled: bool = True) -> str:
    """An upper-case ISO code, known and (by default) enabled, or CurrencyError."""
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise CurrencyError("A currency is a three-letter ISO 4217 code.", code="currency_invalid")
    code = code.upper()
    _currency(code)
    if require_enabled and code not in enabled_currencies():
        raise CurrencyError(f"Currency {code} is not enabled.", code="currency_not_enabled")
    return code


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit with the one rounding rule (half-up)."""
    exponent = Decimal(1).scaleb(-minor_digits(currency))
    return Decimal(amount).quantize(exponent, rounding=ROUNDING)


def money(amount: Decimal | int | str, currency: str) -> Money:
    """A Money quantized to its currency."""
    return Money(quantize(Decimal(amount), currency), currency)


def parse_amount(raw: object, currency: str, *, allow_zero: bool = True) -> Decimal:
    """An exact amount from API input: a decimal string (or integer), never a float; no more
    digits than the currency has, not negative."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise CurrencyError('An amount is a decimal string such as "9.99".', code="amount_invalid")
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise CurrencyError(f"'{raw}' is not a decimal amount.", code="amount_invalid") from None
    if not amount.is_finite():
        raise CurrencyError(f"'{raw}' is not a decimal amount.", code="amount_invalid")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise CurrencyError("The amount must be positive.", code="amount_invalid")
    digits = minor_digits(currency)
    if amount.as_tuple().exponent < -digits and amount != quantize(amount, currency):
        raise CurrencyError(
            f"{currency} amounts have {digits} decimal place{'s' if digits != 1 else ''} at most.",
            code="amount_too_precise",
        )
    if amount >= Decimal(10) ** 15:
        raise CurrencyError("The amount is too large.", code="amount_invalid")
    return quantize(amount, currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """The API's amount string: exactly the currency's minor-unit digits ("1000", "9.99", "1.250")."""
    return f"{quantize(amount, currency):f}"


def to_minor_units(value: Money) -> int:
    """Integer minor units, for a gateway's edge only."""
    currency = value.currency.code
    return int(quantize(value.amount, currency).scaleb(minor_digits(currency)))


def from_minor_units(units: int, currency: str) -> Money:
    return Money(Decimal(int(units)).scaleb(-minor_digits(currency)), currency)


def is_valid_country(code: object) -> bool:
    return isinstance(code, str) and len(code) == 2 and code.isupper() and _country(code) is not None


@cache
def _country(code: str):
    return pycountry.countries.get(alpha_2=code)


def normalize_country(code: object) -> str:
    """An upper-case ISO 3166-1 alpha-2 code, or CurrencyError with code `country_invalid`."""
    if isinstance(code, str) and is_valid_country(code.upper()):
        return code.upper()
    raise CurrencyError(f"'{code}' is not an ISO 3166-1 alpha-2 country code.", code="country_invalid", param="country")


@cache
def country_currency(country: str) -> str:
    """The country's legal tender today (CLDR data via babel), or DEFAULT_CURRENCY if it has none."""
    currencies = get_territory_currencies(country, tender=True)
    return currencies[0] if currencies else settings.DEFAULT_CURRENCY


def money_repr(value: Money) -> dict:
    """The one rendering of money outside (API answers, event payloads, CSV): an exact amount string
    in the currency's minor units, and the ISO code."""
    return {"amount": format_amount(value.amount, value.currency.code), "currency": value.currency.code}
