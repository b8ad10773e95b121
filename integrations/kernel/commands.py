"""`manage.py` commands that change state run in an audit context: as `system`, or as the staff
user named by `--actor USERNAME` (the person at the keyboard, when it matters who)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from integrations.kernel.audit import actor_of, actor_system, audit_context


def command_actor(username: str | None, *, command: str):
    if not username:
        return actor_system(f"manage.py {command}")
    model = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
    if user is None or not user.is_active or not user.is_staff:
        raise CommandError(f"--actor: no active staff user '{username}'.")
    return actor_of(user)


class AuditedCommand(BaseCommand):
    """A command whose changes are audited, by `system` unless `--actor USERNAME` says who."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            "--actor", metavar="USERNAME", help="The staff user the audit log names for this run (default: system)."
        )
        return parser

    def execute(self, *args, **options):
        command = type(self).__module__.rsplit(".", 1)[-1]
        actor = command_actor(options.pop("actor", None), command=command)
        with audit_context(actor=actor, user_agent=f"manage.py {command}"):
            return super().execute(*args, **options)
