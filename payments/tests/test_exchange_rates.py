"""`manage.py import_exchange_rates FILE`: all rows or none, upserted, a bad row named; and the
conversion rule (the latest rate on or before the day, never a silent 1.0)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from payments.fx.services import ExchangeRateMissing, RateTable
from payments.models import ExchangeRate

pytestmark = pytest.mark.django_db


def write(tmp_path, text: str):
    path = tmp_path / "rates.csv"
    path.write_text(text)
    return str(path)


def rates() -> list[tuple]:
    return list(ExchangeRate.objects.order_by("date", "base").values_list("date", "base", "quote", "rate"))


def test_import_upserts_and_a_second_import_changes_nothing(tmp_path, capsys):
    path = write(tmp_path, "date,base,quote,rate\n2030-01-01,JPY,EUR,0.006\n2030-02-01,usd,EUR,0.92\n")
    call_command("import_exchange_rates", path)
    call_command("import_exchange_rates", path)
    call_command("import_exchange_rates", write(tmp_path, "date,base,quote,rate\n2030-01-01,JPY,EUR,0.0061\n"))

    assert rates() == [
        (dt.date(2030, 1, 1), "JPY", "EUR", Decimal("0.006100000000")),
        (dt.date(2030, 2, 1), "USD", "EUR", Decimal("0.920000000000")),
    ]


@pytest.mark.parametrize(
    ("bad_row", "words"),
    [
        ("2030-02-30,JPY,EUR,0.006", "Row 3: date"),
        ("2030-01-02,JPY,ABC,0.006", "Row 3: quote"),
        ("2030-01-02,JPY,EUR,-1", "Row 3: rate"),
        ("2030-01-02,JPY,JPY,1", "Row 3: base and quote"),
        ("2030-01-01,JPY,EUR,0.007", "Row 3: JPY/EUR on 2030-01-01 is also on row 2"),
    ],
)
def test_a_bad_row_refuses_the_whole_file_naming_its_row(tmp_path, bad_row, words):
    path = write(tmp_path, f"date,base,quote,rate\n2030-01-01,JPY,EUR,0.006\n{bad_row}\n")

    with pytest.raises(CommandError, match=words):
        call_command("import_exchange_rates", path)
    assert rates() == []


def test_conversion_takes_the_latest_rate_on_or_before_the_day_and_refuses_without_one():
    ExchangeRate.objects.create(date=dt.date(2030, 1, 1), base="JPY", quote="EUR", rate=Decimal("0.006"))
    ExchangeRate.objects.create(date=dt.date(2030, 2, 1), base="JPY", quote="EUR", rate=Decimal("0.007"))
    table = RateTable(quote="EUR", bases=["JPY", "USD"], until=dt.date(2030, 3, 1))

    assert table.rate("JPY", dt.date(2030, 1, 31)) == Decimal("0.006")
    assert table.rate("JPY", dt.date(2030, 2, 1)) == Decimal("0.007")
    assert table.rate("EUR", dt.date(2030, 2, 1)) == 1
    with pytest.raises(ExchangeRateMissing):
        table.rate("JPY", dt.date(2029, 12, 31))
    with pytest.raises(ExchangeRateMissing):
        table.rate("USD", dt.date(2030, 2, 1))
