"""`manage.py import_exchange_rates FILE`: dated exchange rates from a CSV file (payments/fx)."""

import sys

from django.core.management.base import CommandError

from integrations.kernel.commands import AuditedCommand
from integrations.kernel.errors import DomainError
from payments.fx.services import CSV_FORMAT, exchange_rates_import


class Command(AuditedCommand):
    help = (
        f"Import exchange rates for the metrics' currency conversion. {CSV_FORMAT}. "
        "A (date, base, quote) already there takes the file's rate (importing twice changes nothing); "
        "a bad row refuses the whole file, naming its row (the header is row 1). Use - to read stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file, or - for standard input.")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            if path == "-":
                result = exchange_rates_import(lines=sys.stdin)
            else:
                with open(path, encoding="utf-8-sig", newline="") as handle:
                    result = exchange_rates_import(lines=handle)
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Imported exchange rates: {result.created} new, {result.updated} changed.")
