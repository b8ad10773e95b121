from integrations.kernel.commands import AuditedCommand
from integrations.kernel.encryption import secrets_reencrypt


class Command(AuditedCommand):
    help = (
        "Re-encrypt every stored secret (gateway credentials, stored idempotent answers) under the first "
        "key of FIELD_ENCRYPTION_KEY. To rotate: put the new key first (NEW,OLD), restart, run this, then "
        "drop OLD. Safe to run again."
    )

    def handle(self, *args, **options):
        for label, count in secrets_reencrypt().items():
            self.stdout.write(f"{label}: {count} re-encrypted")
