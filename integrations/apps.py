from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.kernel import startup  # noqa: F401  (registers the production-keys deploy check)
        from integrations.kernel.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
