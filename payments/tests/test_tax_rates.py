"""The tax rates: the shipped data (payments/tax/rates.csv) and its loading, the selector of the
rate in force, and a change as a new row."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.kernel.clock import running_at
from integrations.kernel.errors import Conflict, InvalidRequest
from payments.tax.data import RATES_FILE, RatesFileError, shipped_rates, shipped_rates_load
from payments.tax.models import TaxRate
from payments.tax.rules import EU_MEMBER_STATES
from payments.tax.selectors import tax_rate_at, tax_rates_in_force
from payments.tax.services import tax_rate_add, tax_rate_update
from payments.tests.tax_helpers import percent, shipped_rates_loaded

D = Decimal
TODAY = dt.date(2026, 6, 1)


@pytest.fixture
def today():
    """The billing clock at noon on TODAY: what the rate services take as today."""
    with running_at(timezone.make_aware(dt.datetime(2026, 6, 1, 12), dt.UTC)):
        yield TODAY


# --- The shipped data -----------------------------------------------------------------------------


def test_every_shipped_row_names_its_source_and_the_sources_date():
    rows = shipped_rates()

    assert rows
    for row in rows:
        assert row.source.strip() and len(row.source) <= 500, row
        assert ("http" in row.source) or ("Law" in row.source), row  # a URL, or the law it comes from
        assert row.source_date <= dt.date(2026, 12, 31), row


def test_the_shipped_rates_cover_the_eu_27_uk_norway_switzerland_australia_new_zealand_and_canada():
    in_force = {(row.country, row.subdivision) for row in shipped_rates() if row.valid_to is None}

    countries = {country for country, _ in in_force}
    assert countries >= EU_MEMBER_STATES | {"GB", "NO", "CH", "AU", "NZ", "CA"}
    assert {sub for country, sub in in_force if country == "CA"} == {
        "",
        "ON",
        "NS",
        "NB",
        "NL",
        "PE",
        "QC",
        "BC",
        "MB",
        "SK",
    }


@pytest.mark.parametrize(
    ("country", "subdivision", "rate"),
    [
        ("DE", "", "19"), ("FR", "", "20"), ("HU", "", "27"), ("FI", "", "25.5"), ("EE", "", "24"),
        ("SK", "", "23"), ("RO", "", "21"), ("LU", "", "17"), ("IE", "", "23"), ("GR", "", "24"),
        ("GB", "", "20"), ("NO", "", "25"), ("CH", "", "8.1"), ("AU", "", "10"), ("NZ", "", "15"),
        ("CA", "", "5"), ("CA", "ON", "13"), ("CA", "NS", "14"), ("CA", "NB", "15"), ("CA", "NL", "15"),
        ("CA", "PE", "15"), ("CA", "QC", "9.975"), ("CA", "BC", "7"), ("CA", "MB", "7"), ("CA", "SK", "6"),
    ],
)  # fmt: skip
def test_the_shipped_standard_rates_in_force_today_are_the_published_ones(country, subdivision, rate):
    (row,) = [
        r
        for r in shipped_rates()
        if (r.country, r.subdivision, r.category) == (country, subdivision, "digital_services") and r.valid_to is None
    ]

    assert row.rate == percent(rate)


def test_the_shipped_file_loads_every_row_once_and_a_second_load_adds_nothing(db):
    added = shipped_rates_loaded()

    assert added == len(shipped_rates()) == TaxRate.objects.count()
    assert shipped_rates_load(TaxRate) == 0
    assert not TaxRate.objects.filter(source="").exists()


def test_a_rates_file_with_overlapping_periods_is_refused(tmp_path):
    text = RATES_FILE.read_text().splitlines()
    header = next(line for line in text if line.startswith("country,"))
    bad = tmp_path / "rates.csv"
    bad.write_text(
        "\n".join(
            [
                header,
                "DE,,digital_services,VAT,0.19,no,2007-01-01,,https://example.org/a,2007-01-01",
                "DE,,digital_services,VAT,0.16,no,2020-07-01,2021-01-01,https://example.org/b,2020-06-29",
            ]
        )
        + "\n"
    )

    with pytest.raises(RatesFileError, match="overlaps"):
        shipped_rates(bad)


def test_a_rates_file_row_without_a_source_is_refused_naming_its_line(tmp_path):
    header = next(line for line in RATES_FILE.read_text().splitlines() if line.startswith("country,"))
    bad = tmp_path / "rates.csv"
    bad.write_text(f"# comment\n{header}\nDE,,digital_services,VAT,0.19,no,2007-01-01,,,2007-01-01\n")

    with pytest.raises(RatesFileError, match="line 3"):
        shipped_rates(bad)


# --- The rate in force ----------------------------------------------------------------------------


def test_tax_rate_at_picks_the_row_in_force_on_the_day(db):
    shipped_rates_loaded()

    assert tax_rate_at(country="FI", subdivision=None, category="digital_services", at=dt.date(2024, 8, 31)) == D(
        "0.24"
    )
    assert tax_rate_at(country="FI", subdivision=None, category="digital_services", at=dt.date(2024, 9, 1)) == D(
        "0.255"
    )
    assert tax_rate_at(country="DE", subdivision="", category="digital_services", at=dt.date(2020, 8, 1)) == D("0.16")
    assert tax_rate_at(country="CA", subdivision="QC", category="digital_services", at=TODAY) == D("0.09975")


def test_tax_rate_at_falls_back_to_the_standard_rate_where_a_country_has_no_row_of_the_category(db):
    shipped_rates_loaded()

    assert tax_rate_at(country="AT", subdivision=None, category="broadcasting", at=TODAY) == D("0.10")
    assert tax_rate_at(country="DE", subdivision=None, category="broadcasting", at=TODAY) == D("0.19")
    assert tax_rate_at(country="US", subdivision="NY", category="digital_services", at=TODAY) is None
    assert tax_rate_at(country="DE", subdivision=None, category="digital_services", at=dt.date(1990, 1, 1)) is None


def test_the_rates_in_force_of_a_country_and_its_subdivision(db):
    shipped_rates_loaded()

    rows = tax_rates_in_force(at=TODAY, country="CA", subdivision="QC")

    assert sorted((r.subdivision, r.name, r.rate) for r in rows) == [
        ("", "GST", D("0.05")),
        ("QC", "QST", D("0.09975")),
    ]


# --- A change is a new row ------------------------------------------------------------------------


def _add(**overrides) -> TaxRate:
    values = {
        "country": "DE",
        "name": "VAT",
        "rate": "0.20",
        "valid_from": dt.date(2026, 7, 1),
        "source": "https://example.org/bgbl-2026",
        "source_date": dt.date(2026, 5, 1),
    }
    return tax_rate_add(**{**values, **overrides})


def test_a_new_rate_ends_the_row_in_force_that_day_and_runs_open_ended(db, today):
    shipped_rates_loaded()
    old = TaxRate.objects.get(country="DE", valid_to__isnull=True)

    new = _add()

    old.refresh_from_db()
    assert (old.valid_to, new.valid_from, new.valid_to, new.rate) == (
        dt.date(2026, 7, 1),
        dt.date(2026, 7, 1),
        None,
        D("0.20"),
    )
    assert tax_rate_at(country="DE", subdivision=None, category="digital_services", at=dt.date(2026, 6, 30)) == D(
        "0.19"
    )
    assert tax_rate_at(country="DE", subdivision=None, category="digital_services", at=dt.date(2026, 7, 1)) == D("0.20")


def test_a_rate_may_start_today(db, today):
    shipped_rates_loaded()

    assert _add(valid_from=TODAY).valid_from == TODAY


def test_a_new_rate_may_not_rewrite_days_already_past(db, today):
    shipped_rates_loaded()

    with pytest.raises(InvalidRequest) as refused:
        _add(valid_from=dt.date(2026, 5, 1))

    assert refused.value.param == "valid_from"
    assert TaxRate.objects.get(country="DE", valid_to__isnull=True).rate == D("0.19")


def test_a_rate_between_the_one_in_force_and_a_scheduled_one_fits_between_them(db, today):
    shipped_rates_loaded()
    later = _add(valid_from=dt.date(2027, 1, 1), rate="0.21")

    between = _add(valid_from=dt.date(2026, 9, 1), rate="0.20")

    assert between.valid_to == dt.date(2027, 1, 1)
    assert TaxRate.objects.get(country="DE", valid_to=dt.date(2026, 9, 1)).rate == D("0.19")
    later.refresh_from_db()
    assert later.valid_to is None


def test_a_second_row_starting_the_same_day_is_refused(db, today):
    shipped_rates_loaded()
    _add()

    with pytest.raises(Conflict) as refused:
        _add(rate="0.21")

    assert (refused.value.code, refused.value.param) == ("tax_rate_exists", "valid_from")


def test_a_new_place_may_start_with_its_history(db, today):
    row = _add(
        country="US",
        subdivision="NY",
        name="Sales tax",
        rate="0.04",
        adds_to_country=True,
        valid_from=dt.date(2020, 1, 1),
    )

    assert (row.subdivision, row.valid_to, row.adds_to_country) == ("NY", None, True)


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"country": "XX"}, "country"),
        ({"subdivision": "QC"}, "subdivision"),  # Germany has no taxed subdivisions
        ({"country": "CA", "subdivision": "ZZ"}, "subdivision"),
        ({"rate": "19"}, "rate"),
        ({"rate": "0.123456"}, "rate"),
        ({"rate": "abc"}, "rate"),
        ({"category": "Digital Services"}, "category"),
        ({"name": ""}, "name"),
        ({"source": "  "}, "source"),
        ({"adds_to_country": True}, "adds_to_country"),
        ({"valid_from": "2026-13-01"}, "valid_from"),
    ],
)
def test_a_bad_rate_row_is_refused_naming_the_field(db, today, overrides, param):
    with pytest.raises(InvalidRequest) as refused:
        _add(**overrides)

    assert (refused.value.code, refused.value.param) == ("parameter_invalid", param)


def test_a_row_not_in_force_yet_can_be_corrected_and_one_in_force_cannot(db, today):
    shipped_rates_loaded()
    scheduled = _add(rate="0.2")

    corrected = tax_rate_update(rate_row=scheduled, rate="0.195", source="https://example.org/corrected")

    assert (corrected.rate, corrected.source) == (D("0.195"), "https://example.org/corrected")
    in_force = TaxRate.objects.get(country="FR", valid_to__isnull=True)
    with pytest.raises(Conflict):
        tax_rate_update(rate_row=in_force, rate="0.21")
    with pytest.raises(InvalidRequest) as refused:
        tax_rate_update(rate_row=scheduled, valid_from=dt.date(2026, 8, 1))
    assert refused.value.param == "valid_from"


def test_tax_decide_reads_the_registrations_rates_and_seller_from_the_database(db, settings):
    from payments.tax.rules import tax_decide
    from payments.tests.tax_helpers import registration

    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()
    oss = registration(scheme="eu_oss", active_from=dt.date(2024, 1, 1))

    consumer = tax_decide(at=dt.date(2024, 8, 31), customer_country="FI")
    business = tax_decide(at=dt.date(2024, 9, 1), customer_country="FI", tax_id_status="verified", tax_id_country="FI")

    assert (consumer.rate, consumer.registration_id) == (D("0.24"), oss.id)
    assert (business.reverse_charge, business.registration_id) == (True, oss.id)
