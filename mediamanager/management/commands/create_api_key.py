from django.core.management.base import CommandError

from integrations.kernel.api_keys import SCOPES, api_key_create
from integrations.kernel.commands import AuditedCommand
from integrations.kernel.errors import InvalidRequest


class Command(AuditedCommand):
    help = "Create an operator API key and print the raw key (alone on stdout; it is not shown again)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'crm-sync'.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            help=f"What it may do, repeated or comma-separated ({', '.join(SCOPES)}); none = all.",
        )

    def handle(self, *args, name: str, scopes=None, **options):
        try:
            raw, _ = api_key_create(name=name, scopes=scopes)
        except InvalidRequest as error:
            raise CommandError(error.message) from None
        self.stdout.write(raw)
