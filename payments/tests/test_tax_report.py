"""The tax report (payments/tax/report.py): taxable amounts and tax per country, subdivision, rate,
currency and reverse charge, from invoices paid in the period and credit notes issued in it, netted;
the same rows through `manage.py tax_report` and finance's admin screen. The sales are made through
the services (payments/tests/tax_report_helpers.py, where the figures are checked by hand)."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from moneyed import Money

from conftest import sign_in_verified, staff_in_role
from integrations.kernel.clock import running_at
from integrations.kernel.errors import InvalidRequest
from integrations.kernel.models import AuditEvent
from payments.models import Invoice
from payments.tax.admin import _last_quarter
from payments.tax.report import tax_report, tax_report_repr
from payments.tests.tax_helpers import registration
from payments.tests.tax_report_helpers import (
    FEB_FIRST,
    FEB_LAST,
    at,
    february_sales,
    money,
    paid_invoice,
    refunded,
)

pytestmark = pytest.mark.django_db

ADMIN_URL = "/admin/payments/tax-report/"


def _eur(amount: str) -> Money:
    return Money(amount, "EUR")


def _figures(row) -> tuple:
    return (
        row.country,
        row.subdivision,
        row.rate,
        row.currency,
        row.reverse_charge,
        *(getattr(row, name).amount for name in ("taxable", "tax", "credited_taxable", "credited_tax")),
        row.net_taxable.amount,
        row.net_tax.amount,
    )


@pytest.fixture
def quarter(settings):
    return february_sales(settings)


# --- The selector ---------------------------------------------------------------------------------


def test_the_invoices_are_taxed_as_worked_out_by_hand(quarter):
    german, french = quarter.german.invoice.lines.get(), quarter.french.invoice.lines.get()

    assert (german.net.amount, german.tax_rate, german.tax_amount.amount) == (
        Decimal("8.39"),
        Decimal("0.19"),
        Decimal("1.60"),
    )
    assert (french.net.amount, french.tax_rate, french.tax_amount.amount) == (
        Decimal("8.33"),
        Decimal("0.2"),
        Decimal("1.66"),
    )
    assert (quarter.credit_note.subtotal, quarter.credit_note.tax) == (_eur("4.20"), _eur("0.80"))
    assert quarter.french_business.invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE
    assert quarter.untaxed.invoice.tax_status == Invoice.TaxStatus.NOT_REGISTERED


def test_the_report_sums_each_country_and_rate_and_nets_the_credit_notes(quarter):
    report = tax_report(date_from=FEB_FIRST, date_to=FEB_LAST)

    assert [_figures(row) for row in report.rows] == [
        # Two DE invoices (2 x 8.39 + 1.60), less the credit note of 4.20 + 0.80.
        ("DE", "", Decimal("0.19"), "EUR", False, *map(Decimal, ("16.78", "3.20", "4.20", "0.80", "12.58", "2.40"))),
        # The French business: reverse-charged, nothing collected on its 9.99.
        ("FR", "", Decimal("0"), "EUR", True, *map(Decimal, ("9.99", "0.00", "0.00", "0.00", "9.99", "0.00"))),
        # Two FR consumers (2 x 8.33 + 1.66), the last one paid in the last microsecond of the period.
        ("FR", "", Decimal("0.2"), "EUR", False, *map(Decimal, ("16.66", "3.32", "0.00", "0.00", "16.66", "3.32"))),
    ]
    assert (report.date_from, report.date_to) == (FEB_FIRST, FEB_LAST)


def test_invoices_paid_outside_the_period_unpaid_or_untaxed_are_left_out(quarter):
    january = tax_report(date_from=dt.date(2027, 1, 1), date_to=dt.date(2027, 1, 31))
    march = tax_report(date_from=dt.date(2027, 3, 1), date_to=dt.date(2027, 3, 1))
    one_day = tax_report(date_from=dt.date(2027, 2, 10), date_to=dt.date(2027, 2, 10))

    # One FR invoice each side of February, and nothing else: no credit note, no US sale.
    for report in (january, march):
        assert [_figures(row)[:7] for row in report.rows] == [
            ("FR", "", Decimal("0.2"), "EUR", False, Decimal("8.33"), Decimal("1.66"))
        ]
    # The 10th: the DE sale; the US sale that day owed no tax (no registration there).
    assert [(row.country, row.taxable) for row in one_day.rows] == [("DE", _eur("8.39"))]
    assert not tax_report(date_from=dt.date(2027, 4, 1), date_to=dt.date(2027, 6, 30)).rows


def test_a_credit_note_counts_in_the_period_it_is_issued_in_even_when_the_sale_was_earlier(quarter):
    refunded(quarter.german, amount="9.99", issued_at=at(2027, 4, 2, 9))

    april = tax_report(date_from=dt.date(2027, 4, 1), date_to=dt.date(2027, 4, 30))

    assert [_figures(row) for row in april.rows] == [
        ("DE", "", Decimal("0.19"), "EUR", False, *map(Decimal, ("0.00", "0.00", "8.39", "1.60", "-8.39", "-1.60")))
    ]
    assert tax_report_repr(april)["rows"][0]["net_tax"] == money("-1.60")


def test_the_report_is_two_queries_whatever_the_number_of_invoices(quarter, django_assert_num_queries):
    with django_assert_num_queries(2):
        few = tax_report(date_from=FEB_FIRST, date_to=FEB_LAST)
    for day in range(1, 6):
        paid_invoice(country="DE", paid_at=at(2027, 2, day, 12))
        paid_invoice(country="FR", paid_at=at(2027, 2, day, 13))

    with django_assert_num_queries(2):
        more = tax_report(date_from=FEB_FIRST, date_to=FEB_LAST)

    assert len(more.rows) == len(few.rows)
    assert more.rows[0].taxable - few.rows[0].taxable == _eur("8.39") * 5


def test_a_subdivision_and_a_currency_have_their_own_rows(quarter):
    registration(country="CA", scheme="domestic", number="123456789RT0001")
    registration(country="CA", subdivision="QC", scheme="domestic", number="1234567890TQ0001")
    paid_invoice(country="CA", subdivision="QC", currency="CAD", paid_at=at(2027, 2, 3, 12), amount="11.50")

    report = tax_report(date_from=FEB_FIRST, date_to=FEB_LAST)

    (row,) = [row for row in report.rows if row.country == "CA"]
    # GST 5% + QST 9.975% on the net, one combined rate: 11.50 / 1.14975 = 10.00 net, 1.50 tax.
    assert _figures(row)[:7] == ("CA", "QC", Decimal("0.14975"), "CAD", False, Decimal("10.00"), Decimal("1.50"))
    assert [row.country for row in report.rows] == ["CA", "DE", "FR", "FR"]
    assert tax_report_repr(report)["rows"][0]["subdivision"] == "QC"
    assert tax_report_repr(report)["rows"][0]["taxable"] == {"amount": "10.00", "currency": "CAD"}


@pytest.mark.parametrize(
    ("date_from", "date_to", "code", "param"),
    [
        (None, "2027-02-28", "parameter_missing", "from"),
        ("2027-02-01", "", "parameter_missing", "to"),
        ("2027-02-30", "2027-03-31", "parameter_invalid", "from"),
        ("2027-2-1", "2027-03-31", "parameter_invalid", "from"),
        ("20270201", "2027-03-31", "parameter_invalid", "from"),
        ("2027-02-01", "10000-01-01", "parameter_invalid", "to"),
        ("2027-02-01", "2027-02-01T00:00:00", "parameter_invalid", "to"),
        ("2027-02-01", "2027-01-31", "parameter_invalid", "to"),
        (dt.datetime(2027, 2, 1, tzinfo=dt.UTC), "2027-02-28", "parameter_invalid", "from"),
        (20270201, "2027-02-28", "parameter_invalid", "from"),
    ],
)
def test_a_bad_period_is_refused_naming_the_field(date_from, date_to, code, param):
    with pytest.raises(InvalidRequest) as refused:
        tax_report(date_from=date_from, date_to=date_to)

    assert (refused.value.code, refused.value.param) == (code, param)


def test_the_widest_period_python_holds_is_a_report_not_an_error(quarter):
    report = tax_report(date_from="0001-01-01", date_to="9999-12-31")

    assert [row.country for row in report.rows] == ["DE", "FR", "FR"]
    assert report.rows[-1].taxable == _eur("33.32")  # every FR consumer sale, January's and March's too


# --- manage.py tax_report ---------------------------------------------------------------------------


def _command(*args) -> str:
    out = io.StringIO()
    call_command("tax_report", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_an_aligned_table_of_the_rows(quarter):
    lines = _command("--from", "2027-02-01", "--to", "2027-02-28").splitlines()

    assert lines[0] == "Tax report from 2027-02-01 to 2027-02-28"
    assert lines[1].split() == [
        "country", "subdivision", "rate", "currency", "reverse_charge",
        "taxable", "tax", "credited_taxable", "credited_tax", "net_taxable", "net_tax",
    ]  # fmt: skip
    assert lines[2].split() == ["DE", "0.19", "EUR", "false", "16.78", "3.20", "4.20", "0.80", "12.58", "2.40"]
    assert lines[4].split() == ["FR", "0.2", "EUR", "false", "16.66", "3.32", "0.00", "0.00", "16.66", "3.32"]
    assert len(lines) == 5
    assert len({len(line) for line in lines[1:]}) == 1  # aligned: the amounts end in one column
    assert lines[1].endswith(" net_tax") and lines[2].endswith(" 2.40")


def test_the_command_writes_csv(quarter):
    rows = list(csv.reader(io.StringIO(_command("--from", "2027-02-01", "--to", "2027-02-28", "--format", "csv"))))

    assert rows[0][:5] == ["country", "subdivision", "rate", "currency", "reverse_charge"]
    assert rows[1] == ["DE", "", "0.19", "EUR", "false", "16.78", "3.20", "4.20", "0.80", "12.58", "2.40"]
    assert rows[2] == ["FR", "", "0", "EUR", "true", "9.99", "0.00", "0.00", "0.00", "9.99", "0.00"]
    assert len(rows) == 4


def test_the_command_says_so_when_there_is_nothing_to_report(db):
    out = _command("--from", "2027-02-01", "--to", "2027-02-28")

    assert "No taxed invoice was paid" in out


def test_the_command_refuses_a_bad_period_naming_the_option(db):
    with pytest.raises(CommandError, match="--to: from must be on or before to"):
        _command("--from", "2027-02-01", "--to", "2027-01-01")
    with pytest.raises(CommandError, match="--from: from must be a day as YYYY-MM-DD"):
        _command("--from", "yesterday", "--to", "2027-01-01")


# --- The admin screen -------------------------------------------------------------------------------


@pytest.fixture
def finance(client):
    return sign_in_verified(client, staff_in_role("finance"))


def test_finance_finds_the_report_under_finance_on_the_admin_index(finance):
    response = finance.get("/admin/")

    entries = {app["name"]: app["models"] for app in response.context["app_list"]}
    (entry,) = [model for model in entries["Finance"] if model["name"] == "Tax report"]
    assert entry["admin_url"] == ADMIN_URL
    assert f'href="{ADMIN_URL}"' in response.content.decode()


def test_finance_sees_the_rows_of_the_period_in_a_table_with_a_csv_link(finance, quarter):
    response = finance.get(ADMIN_URL, {"from": "2027-02-01", "to": "2027-02-28"})

    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["rows"][0] == (
        "DE", "", "0.19", "EUR", "false",
        *map(Decimal, ("16.78", "3.20", "4.20", "0.80", "12.58", "2.40")),
    )  # fmt: skip
    assert len(response.context["rows"]) == 3
    assert "<td>16.78</td>" in page.replace(' style="text-align: right"', "")
    assert 'href="?from=2027-02-01&amp;to=2027-02-28&amp;format=csv"' in page


def test_finance_downloads_the_csv_and_the_download_is_audited(finance, quarter):
    response = finance.get(ADMIN_URL, {"from": "2027-02-01", "to": "2027-02-28", "format": "csv"})

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1] == ["DE", "", "0.19", "EUR", "false", "16.78", "3.20", "4.20", "0.80", "12.58", "2.40"]
    audit = AuditEvent.objects.get(action="tax_report.exported")
    assert audit.actor_name == "finance-user"
    assert audit.changes == {"from": [None, "2027-02-01"], "to": [None, "2027-02-28"], "rows": [None, 3]}


def test_the_screen_opens_on_the_last_full_quarter(finance):
    with running_at(at(2027, 5, 14, 12)):
        response = finance.get(ADMIN_URL)

    assert response.status_code == 200
    report = response.context["report"]
    assert (report.date_from, report.date_to) == (dt.date(2027, 1, 1), dt.date(2027, 3, 31))


@pytest.mark.parametrize(
    ("today", "quarter"),
    [
        (dt.date(2027, 1, 1), (dt.date(2026, 10, 1), dt.date(2026, 12, 31))),
        (dt.date(2027, 3, 31), (dt.date(2026, 10, 1), dt.date(2026, 12, 31))),
        (dt.date(2027, 4, 1), (dt.date(2027, 1, 1), dt.date(2027, 3, 31))),
        (dt.date(2027, 12, 31), (dt.date(2027, 7, 1), dt.date(2027, 9, 30))),
    ],
)
def test_the_last_quarter_is_the_calendar_quarter_before_today(today, quarter):
    assert _last_quarter(today) == quarter


def test_a_bad_period_shows_on_its_field_and_no_report(finance):
    response = finance.get(ADMIN_URL, {"from": "2027-03-01", "to": "2027-02-01", "format": "csv"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert response.context["report"] is None
    assert response.context["form"].errors == {"to": ["from must be on or before to."]}
    assert not AuditEvent.objects.filter(action="tax_report.exported").exists()


def test_marketing_may_not_open_the_report_nor_see_it_on_the_index(client):
    sign_in_verified(client, staff_in_role("marketing"))

    assert client.get(ADMIN_URL, {"from": "2027-02-01", "to": "2027-02-28"}).status_code == 403
    assert client.get(ADMIN_URL, {"from": "2027-02-01", "to": "2027-02-28", "format": "csv"}).status_code == 403
    assert ADMIN_URL not in client.get("/admin/").content.decode()


def test_without_a_second_factor_the_screen_sends_staff_to_sign_in(client):
    client.force_login(staff_in_role("finance"))

    response = client.get(ADMIN_URL)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
