from integrations.kernel.commands import AuditedCommand
from mediamanager.roles import roles_sync


class Command(AuditedCommand):
    help = "Create or refresh the back office's roles (groups): support, finance, marketing, catalogue, administrator."

    def handle(self, *args, **options):
        for role, count in roles_sync().items():
            self.stdout.write(f"{role}: {count} permissions")
