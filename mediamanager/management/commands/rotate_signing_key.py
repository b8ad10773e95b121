from integrations.kernel.commands import AuditedCommand
from integrations.kernel.signing import PUBLISH_AHEAD, signing_key_rotate


class Command(AuditedCommand):
    help = (
        "Make the next key that signs entitlement tokens: published in /.well-known/jwks.json now, signing "
        f"{int(PUBLISH_AHEAD.total_seconds() // 60)} minutes from now; the key it replaces stays published until "
        "its tokens have expired. Safe to run again (each run adds a key)."
    )

    def handle(self, *args, **options):
        key = signing_key_rotate()
        self.stdout.write(f"{key.kid}: published now, signs from {key.signs_from.isoformat()}")
