"""Exchange rates: the CSV import (all rows or none, upserted per (date, base, quote)) and the one
conversion rule: an amount in `base` on a day is converted at the latest rate on or before that
day (the direct row, else the inverse of the reverse row); none is a clear error, never 1.0."""

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from integrations.kernel.audit import audit_record
from integrations.kernel.errors import InvalidRequest
from payments.currency import CurrencyError, normalize_currency
from payments.fx.models import ExchangeRate

COLUMNS = ("date", "base", "quote", "rate")
CSV_FORMAT = (
    "CSV with a header row date,base,quote,rate: date as YYYY-MM-DD, base and quote as ISO 4217 codes, "
    "rate a positive decimal (units of quote for one base), e.g. 2030-01-01,EUR,USD,1.0850"
)


class ExchangeRateMissing(InvalidRequest):
    """No rate on or before the day for a pair that must be converted (400 in the API)."""

    def __init__(self, message: str, *, code: str = "exchange_rate_missing", param: str | None = "currency"):
        super().__init__(message, code=code, param=param)


class ExchangeRateFileInvalid(InvalidRequest):
    """A file with a bad row: nothing of it is imported."""

    def __init__(self, message: str, *, code: str = "exchange_rate_file_invalid", param: str | None = "file"):
        super().__init__(message, code=code, param=param)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def _row_value(row: dict, number: int) -> tuple[dt.date, str, str, Decimal]:
    def refuse(detail: str):
        raise ExchangeRateFileInvalid(f"Row {number}: {detail} Nothing was imported.")

    try:
        day = dt.date.fromisoformat((row.get("date") or "").strip())
    except ValueError:
        refuse(f"date '{row.get('date')}' is not a day as YYYY-MM-DD.")
    codes = []
    for name in ("base", "quote"):
        raw = (row.get(name) or "").strip()
        try:
            codes.append(normalize_currency(raw, require_enabled=False))
        except CurrencyError:
            refuse(f"{name} '{raw}' is not an ISO 4217 currency code.")
    if codes[0] == codes[1]:
        refuse("base and quote are the same currency.")
    raw_rate = (row.get("rate") or "").strip()
    try:
        rate = Decimal(raw_rate)
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or rate <= 0 or rate >= Decimal(10) ** 12:
        refuse(f"rate '{raw_rate}' is not a positive decimal.")
    if rate != rate.quantize(Decimal(1).scaleb(-12)):
        refuse(f"rate '{raw_rate}' has more than 12 decimal places.")
    return day, codes[0], codes[1], rate


def exchange_rates_parse(lines: Iterable[str]) -> list[tuple[dt.date, str, str, Decimal]]:
    """The rows of a CSV file (CSV_FORMAT), every one checked; a bad one refuses the whole file with
    its row number (the header is row 1). A pair and day given twice is refused too."""
    reader = csv.DictReader(lines)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    if sorted(header) != sorted(COLUMNS):
        raise ExchangeRateFileInvalid(f"The header row must be {','.join(COLUMNS)}. Nothing was imported.")
    reader.fieldnames = header
    rows, seen = [], {}
    for number, row in enumerate(reader, start=2):
        if None in row:  # more cells than columns
            raise ExchangeRateFileInvalid(f"Row {number}: more than {len(COLUMNS)} cells. Nothing was imported.")
        value = _row_value(row, number)
        key = value[:3]
        if key in seen:
            raise ExchangeRateFileInvalid(
                f"Row {number}: {key[1]}/{key[2]} on {key[0]} is also on row {seen[key]}. Nothing was imported."
            )
        seen[key] = number
        rows.append(value)
    if not rows:
        raise ExchangeRateFileInvalid("The file has no rates. Nothing was imported.")
    return rows


@transaction.atomic
def exchange_rates_import(*, lines: Iterable[str]) -> ImportResult:
    """Import a CSV of rates (CSV_FORMAT): all rows or none; a (date, base, quote) that exists gets
    the file's rate (so a second import of the same file changes nothing). One audit entry."""
    rows = exchange_rates_parse(lines)
    existing = {
        (r.date, r.base, r.quote): r
        for r in ExchangeRate.objects.select_for_update().filter(date__in={day for day, *_ in rows})
    }
    created, updated = [], []
    for day, base, quote, rate in rows:
        found = existing.get((day, base, quote))
        if found is None:
            created.append(ExchangeRate(date=day, base=base, quote=quote, rate=rate))
        elif found.rate != rate:
            found.rate, found.updated_at = rate, timezone.now()
            updated.append(found)
    # A concurrent import of the same day: the last one's rate stands.
    ExchangeRate.objects.bulk_create(
        created, update_conflicts=True, unique_fields=["date", "base", "quote"], update_fields=["rate"]
    )
    if updated:
        ExchangeRate.objects.bulk_update(updated, ["rate", "updated_at"])
    audit_record(
        action="exchange_rates.imported",
        object_type="exchange_rate",
        object_id=f"{min(r[0] for r in rows)}..{max(r[0] for r in rows)}",
        changes={"created": [None, len(created)], "updated": [None, len(updated)]},
    )
    return ImportResult(created=len(created), updated=len(updated))


class RateTable:
    """Rates into one currency, read once for a set of currencies and days (a chart's range is a
    few queries, not one per day). `rate(base, day)`: the latest on or before `day`."""

    def __init__(self, *, quote: str, bases: Iterable[str], until: dt.date):
        self.quote = quote
        self._rows: dict[str, list[tuple[dt.date, Decimal]]] = {}
        bases = sorted(set(bases) - {quote})
        if not bases:
            return
        for row in ExchangeRate.objects.filter(base__in=bases, quote=quote, date__lte=until).order_by("date"):
            self._rows.setdefault(row.base, []).append((row.date, row.rate))
        inverse = ExchangeRate.objects.filter(base=quote, quote__in=bases, date__lte=until).order_by("date")
        for row in inverse:  # only where no direct rate is known that day
            direct = self._rows.setdefault(row.quote, [])
            if all(day != row.date for day, _ in direct):
                direct.append((row.date, Decimal(1) / row.rate))
        for rows in self._rows.values():
            rows.sort()

    def rate(self, base: str, day: dt.date) -> Decimal:
        if base == self.quote:
            return Decimal(1)
        found = None
        for when, rate in self._rows.get(base, ()):
            if when > day:
                break
            found = rate
        if found is None:
            raise ExchangeRateMissing(
                f"No {base}/{self.quote} exchange rate on or before {day.isoformat()}: "
                "import one with manage.py import_exchange_rates."
            )
        return found
