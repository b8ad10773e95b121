"""The arithmetic of an invoice's tax (payments/tax/rules.py `tax_lines`): the worked examples by
hand, and property tests over any lines, rate, behaviour and currency."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.kernel.errors import InvalidRequest
from payments.currency import minor_digits, quantize
from payments.tax.rules import LineTax, tax_lines, tax_lines_per_rate

D = Decimal


def _one(amount: str, currency: str, rate: str, behavior: str) -> LineTax:
    (line,) = tax_lines(amounts=[D(amount)], currency=currency, rate=D(rate), behavior=behavior)
    return line


# --- Worked examples, checked by hand -------------------------------------------------------------


def test_9_99_inclusive_in_germany_is_8_39_net_and_1_60_tax():
    # 9.99 / 1.19 = 8.3949... -> 8.39; 9.99 - 8.39 = 1.60
    assert _one("9.99", "EUR", "0.19", "inclusive") == LineTax(net=D("8.39"), tax=D("1.60"), gross=D("9.99"))


def test_9_99_inclusive_in_france_is_8_33_net_and_1_66_tax():
    # 9.99 / 1.20 = 8.325 -> half-up 8.33; 9.99 - 8.33 = 1.66
    assert _one("9.99", "EUR", "0.20", "inclusive") == LineTax(net=D("8.33"), tax=D("1.66"), gross=D("9.99"))


def test_10_00_exclusive_in_germany_charges_11_90():
    assert _one("10.00", "EUR", "0.19", "exclusive") == LineTax(net=D("10.00"), tax=D("1.90"), gross=D("11.90"))


def test_yen_have_no_decimals():
    # 1000 / 1.10 = 909.09 -> 909; tax 91. Exclusive: 1000 * 0.10 = 100.
    assert _one("1000", "JPY", "0.10", "inclusive") == LineTax(net=D("909"), tax=D("91"), gross=D("1000"))
    assert _one("999", "JPY", "0.10", "exclusive") == LineTax(net=D("999"), tax=D("100"), gross=D("1099"))


def test_kuwaiti_dinars_have_three_decimals():
    # 1.250 / 1.19 = 1.05042 -> 1.050; tax 0.200. Exclusive: 1.250 * 0.19 = 0.2375 -> 0.238.
    assert _one("1.250", "KWD", "0.19", "inclusive") == LineTax(net=D("1.050"), tax=D("0.200"), gross=D("1.250"))
    assert _one("1.250", "KWD", "0.19", "exclusive") == LineTax(net=D("1.250"), tax=D("0.238"), gross=D("1.488"))
    assert str(_one("1.250", "KWD", "0.19", "exclusive").tax) == "0.238"


def test_the_tax_of_a_rate_is_computed_once_over_the_invoice_and_spread_by_largest_remainder():
    # Three lines of 3.33 at 19% exclusive: per line 0.6327 would round to 0.63 each (1.89), but the
    # invoice's tax is round(9.99 * 0.19) = round(1.8981) = 1.90: the extra cent goes to one line.
    lines = tax_lines(amounts=[D("3.33")] * 3, currency="EUR", rate=D("0.19"), behavior="exclusive")

    assert [line.tax for line in lines] == [D("0.64"), D("0.63"), D("0.63")]
    assert sum(line.gross for line in lines) == D("11.89")


def test_inclusive_lines_keep_their_gross_and_split_the_invoices_tax():
    lines = tax_lines(amounts=[D("9.99"), D("4.99"), D("0.01")], currency="EUR", rate=D("0.19"), behavior="inclusive")

    assert [line.gross for line in lines] == [D("9.99"), D("4.99"), D("0.01")]
    assert sum(line.net for line in lines) == D("12.60")  # 14.99 / 1.19 = 12.5966 -> 12.60
    assert sum(line.tax for line in lines) == D("2.39")


def test_zero_lines_and_no_lines_are_fine():
    assert tax_lines(amounts=[], currency="EUR", rate=D("0.19"), behavior="inclusive") == []
    assert _one("0.00", "EUR", "0.19", "exclusive") == LineTax(net=D("0.00"), tax=D("0.00"), gross=D("0.00"))
    lines = tax_lines(amounts=[D("0"), D("5.00")], currency="EUR", rate=D("0.19"), behavior="exclusive")
    assert lines[0] == LineTax(net=D("0.00"), tax=D("0.00"), gross=D("0.00"))


def test_a_zero_rate_taxes_nothing_and_keeps_the_price():
    assert _one("9.99", "EUR", "0", "inclusive") == LineTax(net=D("9.99"), tax=D("0.00"), gross=D("9.99"))


def test_lines_at_different_rates_are_taxed_per_rate_and_answered_in_order():
    lines = tax_lines_per_rate(
        amounts=[D("10.00"), D("10.00"), D("3.33")],
        rates=[D("0.19"), D("0.07"), D("0.19")],
        currency="EUR",
        behavior="exclusive",
    )

    assert [line.tax for line in lines] == [D("1.90"), D("0.70"), D("0.63")]  # 13.33 * 0.19 = 2.5327 -> 2.53


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"amounts": [D("-1.00")]}, None),
        ({"amounts": [D("1.001")]}, None),
        ({"amounts": [1.5]}, None),
        ({"rate": D("1")}, "rate"),
        ({"rate": D("-0.1")}, "rate"),
        ({"rate": 0.19}, "rate"),
        ({"behavior": "gross"}, "tax_behavior"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(kwargs, param):
    arguments = {"amounts": [D("1.00")], "currency": "EUR", "rate": D("0.19"), "behavior": "inclusive", **kwargs}

    with pytest.raises(InvalidRequest) as refused:
        tax_lines(**arguments)

    assert refused.value.param == param


# --- Properties -----------------------------------------------------------------------------------

CURRENCIES = ["EUR", "JPY", "KWD", "USD", "CHF", "CLF"]  # 2, 0, 3, 2, 2 and 4 digits


@st.composite
def invoices(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    digits = minor_digits(currency)
    units = draw(st.lists(st.integers(min_value=0, max_value=10**9), max_size=12))
    amounts = [D(unit).scaleb(-digits) for unit in units]
    rate = draw(st.decimals(min_value=0, max_value=D("0.99999"), places=5))
    behavior = draw(st.sampled_from(["inclusive", "exclusive"]))
    return amounts, currency, rate, behavior


def _exponent_is_the_currencys(value: Decimal, currency: str) -> bool:
    return value.as_tuple().exponent == -minor_digits(currency)


@settings(max_examples=400, deadline=None)
@given(invoices())
def test_lines_add_up_to_the_invoice_and_to_its_tax_per_rate(invoice):
    amounts, currency, rate, behavior = invoice

    lines = tax_lines(amounts=amounts, currency=currency, rate=rate, behavior=behavior)

    total = sum(amounts, D(0))
    assert len(lines) == len(amounts)
    if behavior == "inclusive":
        net_total = quantize(total / (1 + rate), currency)
        assert [line.gross for line in lines] == amounts  # inclusive prices keep their gross
        assert sum((line.net for line in lines), D(0)) == net_total
        assert sum((line.tax for line in lines), D(0)) == total - net_total
    else:
        assert [line.net for line in lines] == amounts
        assert sum((line.tax for line in lines), D(0)) == quantize(total * rate, currency)
    for line in lines:
        assert line.net + line.tax == line.gross
        assert line.net >= 0 and line.tax >= 0 and line.gross >= 0
        assert all(_exponent_is_the_currencys(value, currency) for value in (line.net, line.tax, line.gross))


@settings(max_examples=300, deadline=None)
@given(invoices())
def test_each_lines_tax_is_its_share_of_the_invoices_tax_within_one_minor_unit(invoice):
    amounts, currency, rate, behavior = invoice

    lines = tax_lines(amounts=amounts, currency=currency, rate=rate, behavior=behavior)

    total = sum(amounts, D(0))
    tax_total = sum((line.tax for line in lines), D(0))
    unit = D(1).scaleb(-minor_digits(currency))
    for amount, line in zip(amounts, lines, strict=True):
        exact_share = tax_total * amount / total if total else D(0)
        assert abs(line.tax - exact_share) < unit


@settings(max_examples=200, deadline=None)
@given(invoices(), st.lists(st.sampled_from([D("0.19"), D("0.07"), D("0"), D("0.09975")]), min_size=12, max_size=12))
def test_lines_at_several_rates_add_up_per_rate(invoice, rate_pool):
    amounts, currency, _, behavior = invoice
    rates = rate_pool[: len(amounts)]

    lines = tax_lines_per_rate(amounts=amounts, rates=rates, currency=currency, behavior=behavior)

    for rate in set(rates):
        group = [amount for amount, r in zip(amounts, rates, strict=True) if r == rate]
        alone = tax_lines(amounts=group, currency=currency, rate=rate, behavior=behavior)
        taxed = [line for line, r in zip(lines, rates, strict=True) if r == rate]
        assert taxed == alone
