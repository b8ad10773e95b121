from django.apps import AppConfig


class MediamanagerConfig(AppConfig):
    name = "mediamanager"
    verbose_name = "API access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from mediamanager.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
