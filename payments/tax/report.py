"""The tax report (an OSS return's figures): taxable amounts and tax per country, subdivision,
rate and currency over a period, credit notes netted, and how it looks outside (the API's object,
its CSV and the command's table). Paid invoices count by the day they were paid, credit notes by
the day they were issued (UTC); invoices that owed no tax (not registered, no rate) are left out.
Two aggregate queries, whatever the number of invoices. The one part of payments/tax/ that reads
invoices: the rest of tax knows none."""

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Sum
from moneyed import Money

from integrations.kernel.errors import InvalidRequest
from payments.currency import money, money_repr, quantize
from payments.models import CreditNoteLine, Invoice, InvoiceLine
from payments.tax.rules import rate_repr

# The invoices whose tax the report sums: collected, or reverse-charged (the customer accounts for it).
REPORTED_STATUSES = (Invoice.TaxStatus.COLLECTING, Invoice.TaxStatus.REVERSE_CHARGE)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class TaxReportRow:
    country: str
    subdivision: str  # "" for the whole country
    rate: Decimal
    currency: str
    reverse_charge: bool
    taxable: Money
    tax: Money
    credited_taxable: Money
    credited_tax: Money

    @property
    def net_taxable(self) -> Money:
        return self.taxable - self.credited_taxable

    @property
    def net_tax(self) -> Money:
        return self.tax - self.credited_tax


@dataclass(frozen=True)
class TaxReport:
    date_from: dt.date
    date_to: dt.date
    rows: tuple[TaxReportRow, ...]


def _report_date(value: object, *, param: str) -> dt.date:
    if value is None or value == "":
        raise InvalidRequest(f"{param} is required (YYYY-MM-DD).", code="parameter_missing", param=param)
    if isinstance(value, dt.datetime):  # a datetime is a date too: refuse it rather than guess its day
        raise InvalidRequest(f"{param} must be a day (YYYY-MM-DD).", code="parameter_invalid", param=param)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRequest(
        f"{param} must be a day as YYYY-MM-DD (from 0001-01-01 to 9999-12-31).", code="parameter_invalid", param=param
    )


def tax_report_period(*, date_from: object, date_to: object) -> tuple[dt.date, dt.date]:
    """The report's days from what was asked (ISO strings or dates): both required, `from` no
    later than `to`; else InvalidRequest naming `from` or `to`."""
    start = _report_date(date_from, param="from")
    end = _report_date(date_to, param="to")
    if start > end:
        raise InvalidRequest("from must be on or before to.", code="parameter_invalid", param="to")
    return start, end


def _day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """From the first to the last instant of the days, in UTC (the last day inclusive; no day after
    it is computed, so 9999-12-31 stays in range)."""
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
        dt.datetime.combine(end, dt.time.max, tzinfo=dt.UTC),
    )


def _group(queryset, invoice: str, rate: str, taxable: str, tax: str):
    """Sums of `taxable` and `tax` per place, rate, currency and reverse charge, in the database."""
    return (
        queryset.values(
            row_country=F(f"{invoice}__tax_country"),
            row_subdivision=F(f"{invoice}__tax_subdivision"),
            row_rate=F(rate),
            row_currency=F(f"{invoice}__currency"),
            row_tax_status=F(f"{invoice}__tax_status"),
        )
        .annotate(sum_taxable=Sum(taxable), sum_tax=Sum(tax))
        .order_by()
    )


def tax_report(*, date_from: object, date_to: object) -> TaxReport:
    """The rows of the period, sorted by country, subdivision, rate and currency (then reverse
    charge): `taxable`, `tax` of the lines of invoices paid in it; `credited_*` of the credit note
    lines issued in it on such invoices (whenever those were paid), by their invoice line's rate;
    `net_*` the difference (negative where more was credited than collected)."""
    start, end = tax_report_period(date_from=date_from, date_to=date_to)
    first, last = _day_bounds(start, end)
    collected = _group(
        InvoiceLine.objects.filter(
            invoice__status=Invoice.Status.PAID,
            invoice__tax_status__in=REPORTED_STATUSES,
            invoice__paid_at__range=(first, last),
        ),
        "invoice",
        "tax_rate",
        taxable="net",
        tax="tax_amount",
    )
    credited = _group(
        CreditNoteLine.objects.filter(
            credit_note__created_at__range=(first, last),
            invoice_line__invoice__status=Invoice.Status.PAID,
            invoice_line__invoice__tax_status__in=REPORTED_STATUSES,
        ),
        "invoice_line__invoice",
        "invoice_line__tax_rate",
        taxable="net",
        tax="tax",
    )
    sums: dict[tuple, list[Decimal]] = {}
    for offset, groups in ((0, collected), (2, credited)):
        for group in groups:
            key = (
                group["row_country"],
                group["row_subdivision"],
                group["row_rate"],
                group["row_currency"],
                group["row_tax_status"] == Invoice.TaxStatus.REVERSE_CHARGE,
            )
            amounts = sums.setdefault(key, [Decimal(0)] * 4)
            amounts[offset] += group["sum_taxable"] or 0
            amounts[offset + 1] += group["sum_tax"] or 0
    rows = tuple(
        TaxReportRow(
            country=country,
            subdivision=subdivision,
            rate=rate,
            currency=currency,
            reverse_charge=reverse_charge,
            taxable=money(amounts[0], currency),
            tax=money(amounts[1], currency),
            credited_taxable=money(amounts[2], currency),
            credited_tax=money(amounts[3], currency),
        )
        for (country, subdivision, rate, currency, reverse_charge), amounts in sorted(sums.items())
    )
    return TaxReport(date_from=start, date_to=end, rows=rows)


# --- How it looks outside -------------------------------------------------------------------------

MONEY_COLUMNS = ("taxable", "tax", "credited_taxable", "credited_tax", "net_taxable", "net_tax")
TAX_REPORT_COLUMNS = ("country", "subdivision", "rate", "currency", "reverse_charge", *MONEY_COLUMNS)


def tax_report_row_repr(row: TaxReportRow) -> dict:
    return {
        "country": row.country,
        "subdivision": row.subdivision or None,
        "rate": rate_repr(row.rate),
        "currency": row.currency,
        "reverse_charge": row.reverse_charge,
        **{name: money_repr(getattr(row, name)) for name in MONEY_COLUMNS},
    }


def tax_report_repr(report: TaxReport) -> dict:
    """API.md's report object: `{from, to, rows}`, amounts as money objects."""
    return {
        "from": report.date_from.isoformat(),
        "to": report.date_to.isoformat(),
        "rows": [tax_report_row_repr(row) for row in report.rows],
    }


def tax_report_table(report: TaxReport) -> Iterator[tuple]:
    """The header, then a tuple of plain values per row (the CSV and the command's table): amounts
    as Decimals with their currency's digits, which a CSV writes as numbers ("-1.60", not text)."""
    yield TAX_REPORT_COLUMNS
    for row in report.rows:
        yield (
            row.country,
            row.subdivision,
            rate_repr(row.rate),
            row.currency,
            "true" if row.reverse_charge else "false",
            *(quantize(getattr(row, name).amount, row.currency) for name in MONEY_COLUMNS),
        )
