from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.kernel.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
