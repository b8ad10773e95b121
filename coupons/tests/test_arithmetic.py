"""Coupon arithmetic: percent and amount discounts rounded half-up per currency, bounded by the
subtotal; subscription-level then account-level combination."""

from decimal import Decimal, localcontext

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from moneyed import Money

from coupons.arithmetic import (
    CurrencyNotSupported,
    DiscountTerms,
    InvalidDiscountTerms,
    combine,
    discount_for,
)
from payments.currency import from_minor_units, minor_digits, quantize

ENABLED = st.sampled_from(settings.ENABLED_CURRENCIES)
UNITS = st.one_of(st.integers(min_value=0, max_value=1_000), st.integers(min_value=0, max_value=10**12))
PERCENTS = st.one_of(
    st.sampled_from([Decimal(p) for p in ("0.01", "1", "10", "12.5", "33", "33.33", "50", "99.99", "100")]),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4),
)
moderate = hypothesis_settings(max_examples=150, deadline=None)


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def percent(p: str | Decimal) -> DiscountTerms:
    return DiscountTerms(type="percent", percent_off=Decimal(p), label=f"{p}% off")


def amount_off(*amounts: Money) -> DiscountTerms:
    return DiscountTerms(type="amount", amounts_off={a.currency.code: a for a in amounts}, label="Amount off")


def half_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency)) / 2


def on_the_grid(value: Money) -> bool:
    currency = value.currency.code
    return quantize(value.amount, currency) == value.amount and -value.amount.as_tuple().exponent <= minor_digits(
        currency
    )


@st.composite
def terms_in(draw, currency: str) -> DiscountTerms:
    """Percent terms, or amount terms with an amount in `currency`."""
    if draw(st.booleans()):
        return percent(draw(PERCENTS))
    return amount_off(from_minor_units(draw(UNITS.filter(bool)), currency))


@st.composite
def subtotal_and_terms(draw):
    currency = draw(ENABLED)
    return from_minor_units(draw(UNITS), currency), draw(terms_in(currency))


# --- Discount terms


@pytest.mark.parametrize("p", ["0", "-5", "100.01", "NaN"])
def test_percent_terms_refuse_a_percent_outside_zero_to_a_hundred(p):
    with pytest.raises(InvalidDiscountTerms):
        percent(p)


def test_percent_terms_refuse_a_float():
    with pytest.raises(InvalidDiscountTerms):
        DiscountTerms(type="percent", percent_off=12.5, label="float")


def test_amount_terms_refuse_an_amount_filed_under_another_currency():
    with pytest.raises(InvalidDiscountTerms):
        DiscountTerms(type="amount", amounts_off={"USD": eur("5.00")}, label="mislabelled")


@pytest.mark.parametrize(
    "amount", [Money(Decimal("0"), "EUR"), Money(Decimal("1.005"), "EUR"), Money(Decimal("1.5"), "JPY")]
)
def test_amount_terms_refuse_zero_or_more_digits_than_the_currency_has(amount):
    with pytest.raises(InvalidDiscountTerms):
        amount_off(amount)


def test_amount_terms_cannot_be_changed_after_creation():
    terms = amount_off(eur("5.00"))
    with pytest.raises(TypeError):
        terms.amounts_off["EUR"] = eur("50.00")


# --- One discount


@pytest.mark.parametrize(
    ("p", "subtotal", "currency", "expected"),
    [
        ("10", "0.05", "EUR", "0.01"),  # 0.005 rounds up
        ("33", "1", "JPY", "0"),  # 0.33 rounds down
        ("12.5", "1.000", "KWD", "0.125"),  # exact in fils
        ("50", "1", "JPY", "1"),  # 0.5 rounds up, not to even
        ("10", "0.25", "EUR", "0.03"),  # 0.025 rounds up, not to even
        ("12.5", "0.001", "KWD", "0.000"),  # 0.000125 rounds down
    ],
)
def test_percent_discount_rounds_half_up_to_the_minor_unit(p, subtotal, currency, expected):
    result = discount_for(terms=percent(p), subtotal=Money(Decimal(subtotal), currency))
    assert result == Money(Decimal(expected), currency)


@moderate
@given(case=subtotal_and_terms())
def test_a_discount_is_never_negative_and_never_more_than_the_subtotal(case):
    subtotal, terms = case
    result = discount_for(terms=terms, subtotal=subtotal)
    assert result.currency == subtotal.currency
    assert Decimal(0) <= result.amount <= subtotal.amount


@moderate
@given(case=subtotal_and_terms())
def test_a_discount_has_no_more_digits_than_its_currency(case):
    subtotal, terms = case
    assert on_the_grid(discount_for(terms=terms, subtotal=subtotal))


@moderate
@given(currency=ENABLED, units=UNITS, p=PERCENTS)
def test_a_percent_discount_is_the_exact_share_rounded_half_up(currency, units, p):
    subtotal = from_minor_units(units, currency)
    with localcontext() as context:
        context.prec = 60
        exact = subtotal.amount * p / 100
        error = discount_for(terms=percent(p), subtotal=subtotal).amount - exact
    # Half-up on a non-negative amount: at most half a unit away, and a tie goes up.
    assert -half_unit(currency) < error <= half_unit(currency)


@moderate
@given(currency=ENABLED, units=UNITS)
def test_a_hundred_percent_discount_is_exactly_the_subtotal(currency, units):
    subtotal = from_minor_units(units, currency)
    assert discount_for(terms=percent("100"), subtotal=subtotal) == subtotal


@moderate
@given(currency=ENABLED, units=UNITS, off=UNITS.filter(bool))
def test_an_amount_discount_is_its_amount_capped_at_the_subtotal(currency, units, off):
    subtotal, fixed = from_minor_units(units, currency), from_minor_units(off, currency)
    assert discount_for(terms=amount_off(fixed), subtotal=subtotal) == min(fixed, subtotal)


def test_an_amount_discount_takes_the_amount_in_the_subtotals_currency():
    terms = amount_off(eur("5.00"), Money(Decimal("700"), "JPY"), Money(Decimal("1.500"), "KWD"))
    assert discount_for(terms=terms, subtotal=Money(Decimal("1000"), "JPY")) == Money(Decimal("700"), "JPY")


@moderate
@given(pair=st.lists(ENABLED, min_size=2, max_size=2, unique=True), units=UNITS, off=UNITS.filter(bool))
def test_an_amount_discount_without_an_amount_in_the_currency_raises_currency_not_supported(pair, units, off):
    currency, other = pair
    terms = amount_off(from_minor_units(off, other))
    with pytest.raises(CurrencyNotSupported) as error:
        discount_for(terms=terms, subtotal=from_minor_units(units, currency))
    assert error.value.code == "coupon_currency_unsupported"


# --- Account and subscription discounts together


def test_combine_applies_the_subscription_percent_before_the_account_amount():
    # 10% of 100.00 = 10.00, then 5.00 off the 90.00 left; account first would give 14.50.
    total = combine(subtotal=eur("100.00"), account=amount_off(eur("5.00")), subscription=percent("10"))
    assert total == eur("15.00")


def test_combine_applies_the_account_percent_to_what_the_subscription_discount_left():
    # 5.00 off 100.00, then 10% of the 95.00 left = 9.50; account first would give 15.00.
    total = combine(subtotal=eur("100.00"), account=percent("10"), subscription=amount_off(eur("5.00")))
    assert total == eur("14.50")


def test_combine_compounds_two_percents_rounding_each_half_up():
    # 10% of 0.25 = 0.025 -> 0.03; 10% of the 0.22 left = 0.022 -> 0.02.
    total = combine(subtotal=eur("0.25"), account=percent("10"), subscription=percent("10"))
    assert total == eur("0.05")


def test_combine_caps_two_amounts_at_the_subtotal():
    total = combine(subtotal=eur("8.00"), account=amount_off(eur("5.00")), subscription=amount_off(eur("5.00")))
    assert total == eur("8.00")


def test_combine_with_a_full_subscription_discount_leaves_nothing_for_the_account():
    total = combine(subtotal=eur("9.99"), account=amount_off(eur("5.00")), subscription=percent("100"))
    assert total == eur("9.99")


def test_combine_without_discounts_is_zero_in_the_subtotals_currency():
    assert combine(subtotal=Money(Decimal("1.250"), "KWD"), account=None, subscription=None) == Money(0, "KWD")


@moderate
@given(currency=ENABLED, units=UNITS, data=st.data())
def test_combine_is_the_subscription_discount_then_the_account_discount_on_the_rest(currency, units, data):
    subtotal = from_minor_units(units, currency)
    account = data.draw(st.none() | terms_in(currency))
    subscription = data.draw(st.none() | terms_in(currency))
    first = discount_for(terms=subscription, subtotal=subtotal) if subscription else Money(0, currency)
    second = discount_for(terms=account, subtotal=subtotal - first) if account else Money(0, currency)
    assert combine(subtotal=subtotal, account=account, subscription=subscription) == first + second


@moderate
@given(currency=ENABLED, units=UNITS, data=st.data())
def test_combine_is_never_negative_and_never_more_than_the_subtotal(currency, units, data):
    subtotal = from_minor_units(units, currency)
    account = data.draw(st.none() | terms_in(currency))
    subscription = data.draw(st.none() | terms_in(currency))
    total = combine(subtotal=subtotal, account=account, subscription=subscription)
    assert Decimal(0) <= total.amount <= subtotal.amount
    assert on_the_grid(total)
