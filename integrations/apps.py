from django.apps import AppConfig
from django.db.models.signals import post_migrate

CONNECTOR_RUNNER_FIELDS = [
    "cursor_seq",
    "cursor_created_at",
    "cursor_event_id",
    "status",
    "last_error",
    "last_error_at",
    "last_success_at",
    "consecutive_failures",
    "next_attempt_at",
    "events_handled",
]


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.models import Group, User

        from integrations.kernel import startup  # noqa: F401  (registers the production-keys deploy check)
        from integrations.kernel.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from integrations.kernel.audit import audit_signals_connect, audit_track
        from integrations.models import ApiKey, Connector, WebhookEndpoint

        audit_signals_connect()
        audit_track(ApiKey, object_type="api_key")
        audit_track(WebhookEndpoint, object_type="webhook_endpoint", exclude=["failing_since"])
        audit_track(User, object_type="user", exclude=["last_login"], m2m=["groups", "user_permissions"])
        audit_track(Group, object_type="group", m2m=["permissions"])
        # Operators' changes only: the runner's cursor and health move every minute.
        audit_track(Connector, object_type="connector", exclude=CONNECTOR_RUNNER_FIELDS)
        post_migrate.connect(_audit_guard_install, sender=self)
        post_migrate.connect(_event_order_install, sender=self)


def _audit_guard_install(sender, using="default", **kwargs):
    """The audit log's triggers, also where the tables were made without migrations (the tests)."""
    from django.db import connections

    from integrations.kernel.audit_guard import audit_guard_install

    audit_guard_install(connections[using])


def _event_order_install(sender, using="default", **kwargs):
    """Event.seq's sequence or trigger, also where the tables were made without migrations."""
    from django.db import connections

    from integrations.event_order import event_order_install

    event_order_install(connections[using])
