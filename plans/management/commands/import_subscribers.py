import csv
from collections import Counter

from django.core.management.base import CommandError

from integrations.kernel.commands import AuditedCommand
from plans.services.imports import CREATED, OPTIONAL_COLUMNS, REFUSED, REQUIRED_COLUMNS, SKIPPED, subscribers_import


class Command(AuditedCommand):
    help = (
        "Import subscribers from a CSV (external_id, email, country, plan, paid_through, optional card_token "
        "and coupon_code): each row a customer with an active subscription paid until paid_through. "
        "Idempotent per external_id; prints what was created, skipped or refused, and why."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file (UTF-8, header row first).")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and report; write nothing.")

    def handle(self, *args, file, dry_run=False, **options):
        try:
            handle = open(file, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        with handle:
            reader = csv.DictReader(handle)
            columns = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise CommandError(f"{file}: missing column(s) {', '.join(missing)}.")
            unknown = [name for name in columns if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
            if unknown:
                self.stderr.write(f"Ignoring unknown column(s): {', '.join(unknown)}.")
            reader.fieldnames = columns
            results = subscribers_import(rows=reader, dry_run=dry_run)

        created = "would create" if dry_run else CREATED
        width = max([len("external_id"), *(len(r.external_id) for r in results)])
        self.stdout.write(f"{'row':>5}  {'external_id':<{width}}  {'outcome':<12}  reason")
        for result in results:
            outcome = created if result.outcome == CREATED else result.outcome
            reason = f"{result.reason}: {result.detail}" if result.reason else result.detail
            if result.subscription_id:
                reason = f"{result.subscription_id} ({reason})"
            self.stdout.write(f"{result.row:>5}  {result.external_id:<{width}}  {outcome:<12}  {reason}")
        counts = Counter(result.outcome for result in results)
        summary = (
            f"{len(results)} rows: {counts[CREATED]} {created}, {counts[SKIPPED]} skipped, {counts[REFUSED]} refused"
        )
        self.stdout.write(summary + (" (dry run: nothing was written)" if dry_run else ""))
