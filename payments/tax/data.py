"""The shipped tax rates (payments/tax/rates.csv): read, checked and loaded. The data migration
loads them with its own historical model, so this module takes the model as an argument and
imports none."""

import csv
import datetime as dt
import itertools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from payments.currency import is_valid_country

RATES_FILE = Path(__file__).with_name("rates.csv")
COLUMNS = (
    "country",
    "subdivision",
    "category",
    "name",
    "rate",
    "adds_to_country",
    "valid_from",
    "valid_to",
    "source",
    "source_date",
)
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SUBDIVISION = re.compile(r"^[A-Z0-9]{1,3}$")
SOURCE_MAX_LENGTH = 500


@dataclass(frozen=True)
class ShippedRate:
    country: str
    subdivision: str
    category: str
    name: str
    rate: Decimal
    adds_to_country: bool
    valid_from: dt.date
    valid_to: dt.date | None
    source: str
    source_date: dt.date

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.country, self.subdivision, self.category)


class RatesFileError(ValueError):
    """The file has a row that cannot be loaded as it is: the message names the line."""


def _date(value: str, *, line: int, column: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RatesFileError(f"line {line}: {column} {value!r} is not a YYYY-MM-DD date") from None


def _row(raw: dict[str, str], line: int) -> ShippedRate:
    value = {column: (raw.get(column) or "").strip() for column in COLUMNS}
    if not is_valid_country(value["country"]):
        raise RatesFileError(f"line {line}: country {value['country']!r} is not ISO 3166-1 alpha-2")
    if value["subdivision"] and not _SUBDIVISION.match(value["subdivision"]):
        raise RatesFileError(f"line {line}: subdivision {value['subdivision']!r} is not an ISO 3166-2 code")
    if not _CATEGORY.match(value["category"]):
        raise RatesFileError(f"line {line}: category {value['category']!r} is not a lower-case word")
    if not value["name"] or len(value["name"]) > 20:
        raise RatesFileError(f"line {line}: the tax needs a name of at most 20 characters")
    try:
        rate = Decimal(value["rate"])
    except InvalidOperation:
        raise RatesFileError(f"line {line}: rate {value['rate']!r} is not a decimal") from None
    if not rate.is_finite() or not 0 <= rate < 1 or rate.as_tuple().exponent < -5:
        raise RatesFileError(f"line {line}: rate {rate} is not a fraction below 1 with at most 5 decimals")
    if value["adds_to_country"] not in ("yes", "no"):
        raise RatesFileError(f"line {line}: adds_to_country is yes or no")
    adds = value["adds_to_country"] == "yes"
    if adds and not value["subdivision"]:
        raise RatesFileError(f"line {line}: only a subdivision's rate adds to the country's")
    valid_from = _date(value["valid_from"], line=line, column="valid_from")
    valid_to = _date(value["valid_to"], line=line, column="valid_to") if value["valid_to"] else None
    if valid_to is not None and valid_to <= valid_from:
        raise RatesFileError(f"line {line}: valid_to must be after valid_from")
    if not value["source"] or len(value["source"]) > SOURCE_MAX_LENGTH:
        raise RatesFileError(f"line {line}: every rate names its source (at most {SOURCE_MAX_LENGTH} characters)")
    return ShippedRate(
        country=value["country"],
        subdivision=value["subdivision"],
        category=value["category"],
        name=value["name"],
        rate=rate,
        adds_to_country=adds,
        valid_from=valid_from,
        valid_to=valid_to,
        source=value["source"],
        source_date=_date(value["source_date"], line=line, column="source_date"),
    )


def shipped_rates(path: Path = RATES_FILE) -> list[ShippedRate]:
    """Every row of the file, checked one by one and together: per country, subdivision and
    category the periods do not overlap and at most one is open-ended."""
    with path.open(newline="", encoding="utf-8") as handle:
        lines = [(number, text) for number, text in enumerate(handle, start=1) if not text.startswith("#")]
    reader = csv.DictReader(text for _, text in lines)
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise RatesFileError(f"the header must be {','.join(COLUMNS)}")
    rows = [_row(raw, lines[index + 1][0]) for index, raw in enumerate(reader)]
    by_key: dict[tuple[str, str, str], list[ShippedRate]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    for key, periods in by_key.items():
        periods.sort(key=lambda row: row.valid_from)
        for before, after in itertools.pairwise(periods):
            if before.valid_to is None or before.valid_to > after.valid_from:
                raise RatesFileError(
                    f"{'/'.join(filter(None, key))}: the period from {before.valid_from} overlaps the next"
                )
    return rows


def shipped_rates_load(model, rows: list[ShippedRate] | None = None) -> int:
    """Insert the shipped rows that `model` (TaxRate, or a migration's historical model) does not
    hold yet (same place, category and start); answers how many were added. Running it again
    adds nothing."""
    rows = shipped_rates() if rows is None else rows
    held = set(model.objects.values_list("country", "subdivision", "category", "valid_from"))
    new = [
        model(
            country=row.country,
            subdivision=row.subdivision,
            category=row.category,
            name=row.name,
            rate=row.rate,
            adds_to_country=row.adds_to_country,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            source=row.source,
            source_date=row.source_date,
        )
        for row in rows
        if (*row.key, row.valid_from) not in held
    ]
    model.objects.bulk_create(new)
    return len(new)
