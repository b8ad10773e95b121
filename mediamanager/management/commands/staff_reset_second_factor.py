from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mediamanager.staff_security import SECOND_FACTOR_RESET, staff_second_factor_reset, staff_security_event


class Command(BaseCommand):
    help = (
        "For a staff member who lost their authenticator app, passkeys and recovery codes: remove all "
        "their second-factor devices. They set up a new one at their next sign-in."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--actor", default="system", help="who asked for it, for the audit log")

    def handle(self, *args, username, actor, **options):
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        removed = staff_second_factor_reset(user=user)
        staff_security_event(None, action=SECOND_FACTOR_RESET, user=user, actor=actor)
        self.stdout.write(
            f"{username}: {removed} second-factor device{'s' if removed != 1 else ''} removed; "
            "they set up a new one at their next sign-in."
        )
