from integrations.kernel.commands import AuditedCommand
from payments.services.credit_notes import credit_notes_backfill


class Command(AuditedCommand):
    help = "Issue the credit notes of refunds that succeeded before credit notes existed (safe to run again)."

    def handle(self, *args, **options):
        self.stdout.write(f"{credit_notes_backfill()} credit notes issued.")
