from django.core.management.base import CommandError
from django_q.management.commands import qcluster

from integrations.kernel.startup import refuse_to_start


class Command(qcluster.Command):
    """django-q2's worker, refusing to start (before any task is claimed) on development keys or
    on a FIELD_ENCRYPTION_KEY that cannot open the stored secrets."""

    def handle(self, *args, **options):
        refuse_to_start(CommandError)
        super().handle(*args, **options)
