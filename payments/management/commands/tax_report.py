"""`manage.py tax_report --from YYYY-MM-DD --to YYYY-MM-DD [--format table|csv]`: the tax report
(payments/tax/report.py) on stdout, as an aligned table or CSV. It only reads: not audited."""

import csv

from django.core.management.base import BaseCommand, CommandError

from integrations.kernel.csv_export import csv_cell
from integrations.kernel.errors import DomainError
from payments.tax.report import tax_report, tax_report_table

_LEFT_COLUMNS = 5  # country, subdivision, rate, currency, reverse_charge; the amounts align right


class Command(BaseCommand):
    help = (
        "Taxable amounts and tax per country, rate and currency over a period (days UTC, both included), "
        "credit notes netted: invoices paid in it, credit notes issued in it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD", help="The first day.")
        parser.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD", help="The last day.")
        parser.add_argument("--format", choices=["table", "csv"], default="table", help="table (default) or csv.")

    def handle(self, *args, **options):
        try:
            report = tax_report(date_from=options["date_from"], date_to=options["date_to"])
        except DomainError as error:
            raise CommandError(f"--{error.param}: {error.message}" if error.param else error.message) from None
        rows = list(tax_report_table(report))
        if options["format"] == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerows([csv_cell(cell) for cell in row] for row in rows)
            return
        table = [[str(cell) for cell in row] for row in rows]
        self.stdout.write(f"Tax report from {report.date_from.isoformat()} to {report.date_to.isoformat()}")
        if len(table) == 1:
            self.stdout.write("No taxed invoice was paid and no credit note was issued in this period.")
            return
        widths = [max(len(row[index]) for row in table) for index in range(len(table[0]))]
        for row in table:
            cells = [
                cell.ljust(width) if index < _LEFT_COLUMNS else cell.rjust(width)
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            self.stdout.write("  ".join(cells).rstrip())
