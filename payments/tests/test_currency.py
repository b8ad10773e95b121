"""The money rules: ISO 4217 minor units, one rounding rule, exact minor-unit round trips."""

from decimal import Decimal

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from payments.currency import (
    CurrencyError,
    country_currency,
    format_amount,
    from_minor_units,
    minor_digits,
    normalize_country,
    normalize_currency,
    parse_amount,
    quantize,
    to_minor_units,
)

ENABLED = st.sampled_from(settings.ENABLED_CURRENCIES)


@pytest.mark.parametrize(
    ("currency", "digits"), [("JPY", 0), ("EUR", 2), ("USD", 2), ("KWD", 3), ("BHD", 3), ("CLP", 0)]
)
def test_minor_digits_follow_iso_4217(currency, digits):
    assert minor_digits(currency) == digits


@pytest.mark.parametrize(
    ("country", "currency"), [("JP", "JPY"), ("KW", "KWD"), ("DE", "EUR"), ("GB", "GBP"), ("US", "USD")]
)
def test_each_country_has_its_default_currency(country, currency):
    assert country_currency(country) == currency


def test_quantize_rounds_half_up():
    assert quantize(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert quantize(Decimal("0.124"), "EUR") == Decimal("0.12")
    assert quantize(Decimal("1500.5"), "JPY") == Decimal("1501")
    assert quantize(Decimal("1.2345"), "KWD") == Decimal("1.235")


def test_format_amount_shows_exactly_the_currency_digits():
    assert format_amount(Decimal("1000"), "JPY") == "1000"
    assert format_amount(Decimal("9.9"), "EUR") == "9.90"
    assert format_amount(Decimal("1.25"), "KWD") == "1.250"


@pytest.mark.parametrize("raw", [9.99, "abc", "NaN", "Infinity", None, True, "-1.00", "1e400"])
def test_parse_amount_refuses_floats_and_non_decimals(raw):
    with pytest.raises(CurrencyError):
        parse_amount(raw, "EUR")


def test_parse_amount_refuses_more_digits_than_the_currency_has():
    with pytest.raises(CurrencyError) as error:
        parse_amount("10.5", "JPY")
    assert error.value.code == "amount_too_precise"
    assert parse_amount("9.990", "EUR") == Decimal("9.99")


def test_normalize_currency_refuses_unknown_and_disabled_codes():
    with pytest.raises(CurrencyError) as unknown:
        normalize_currency("ZZZ")
    assert unknown.value.code == "currency_invalid"
    with pytest.raises(CurrencyError) as disabled:
        normalize_currency("THB")
    assert disabled.value.code == "currency_not_enabled"
    assert normalize_currency("eur") == "EUR"


def test_normalize_country_accepts_iso_codes_only():
    assert normalize_country("jp") == "JP"
    for bad in ("XX", "EU", "JPN", "", None, 12):
        with pytest.raises(CurrencyError):
            normalize_country(bad)


@given(currency=ENABLED, units=st.integers(min_value=0, max_value=10**14))
def test_minor_units_round_trip_exactly(currency, units):
    value = from_minor_units(units, currency)
    assert to_minor_units(value) == units
    assert parse_amount(format_amount(value.amount, currency), currency) == value.amount


@given(currency=ENABLED, amount=st.decimals(min_value=0, max_value=10**12, places=6, allow_nan=False))
def test_quantized_amounts_survive_the_gateway_edge(currency, amount):
    exact = quantize(amount, currency)
    assert abs(exact - amount) <= Decimal(1).scaleb(-minor_digits(currency)) / 2
    assert from_minor_units(to_minor_units(Money(exact, currency)), currency).amount == exact
