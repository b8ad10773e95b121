"""`manage.py rebuild_metrics [--from YYYY-MM-DD]`: the MRR movement log recomputed from history,
then the daily metric snapshots (plans/services/snapshots.py). Twice gives the same rows."""

import datetime as dt

from django.core.management.base import CommandError

from integrations.kernel.audit import audit_record
from integrations.kernel.commands import AuditedCommand
from plans.services.snapshots import metrics_rebuild


class Command(AuditedCommand):
    help = (
        "Recompute the MRR movements from history (paid invoices, subscriptions' dates) and the daily metric "
        "snapshots from --from (default: the beginning) to today. Idempotent: a second run gives the same rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="since", metavar="YYYY-MM-DD", help="The first day to recompute (UTC).")

    def handle(self, *args, **options):
        since = None
        if options["since"]:
            try:
                since = dt.date.fromisoformat(options["since"])
            except ValueError:
                raise CommandError("--from must be a day as YYYY-MM-DD.") from None
        result = metrics_rebuild(since=since)
        audit_record(
            action="metrics.rebuilt",
            object_type="metrics",
            object_id=result["from"].isoformat(),
            changes={"movements": [None, result["movements"]], "snapshots": [None, result["snapshots"]]},
        )
        self.stdout.write(
            f"Rebuilt {result['movements']} MRR movements and {result['snapshots']} snapshot rows "
            f"from {result['from'].isoformat()} to {result['to'].isoformat()}."
        )
