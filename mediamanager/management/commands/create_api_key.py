from django.core.management.base import BaseCommand

from integrations.kernel.api_keys import api_key_create


class Command(BaseCommand):
    help = "Create an operator API key and print the raw key (alone on stdout; it is not shown again)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'crm-sync'.")

    def handle(self, *args, name: str, **options):
        raw, _ = api_key_create(name=name)
        self.stdout.write(raw)
