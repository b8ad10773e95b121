from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from integrations.kernel.commands import AuditedCommand
from mediamanager.staff_security import SECOND_FACTOR_RESET, staff_second_factor_reset, staff_security_event


class Command(AuditedCommand):
    help = (
        "For a staff member who lost their authenticator app, passkeys and recovery codes: remove all "
        "their second-factor devices. They set up a new one at their next sign-in."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        removed = staff_second_factor_reset(user=user)
        staff_security_event(None, action=SECOND_FACTOR_RESET, user=user)  # by the command's --actor
        self.stdout.write(
            f"{username}: {removed} second-factor device{'s' if removed != 1 else ''} removed; "
            "they set up a new one at their next sign-in."
        )
