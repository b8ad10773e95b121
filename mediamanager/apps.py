from django.apps import AppConfig


class MediamanagerConfig(AppConfig):
    name = "mediamanager"
    default_auto_field = "django.db.models.BigAutoField"
