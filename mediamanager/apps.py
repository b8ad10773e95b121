from django.apps import AppConfig
from django.conf import settings
from django.contrib.admin import apps as admin_apps


class MediamanagerConfig(AppConfig):
    name = "mediamanager"
    default = True  # this module holds two configs: this one is the app's
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        if not settings.DJSTRIPE_ADMIN:
            hide_djstripe_admin()


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, whose default site (`admin.site`) is the back office's: no page without
    a second factor (mediamanager/admin_site.py)."""

    default = False
    default_site = "mediamanager.admin_site.BackOfficeSite"


def hide_djstripe_admin() -> None:
    """dj-stripe's ~60 mirror models stay out of the back office unless DJSTRIPE_ADMIN=1
    (the admin app is ready before this one, so they are registered by now)."""
    from django.contrib import admin

    for model in [model for model in admin.site._registry if model._meta.app_label == "djstripe"]:
        admin.site.unregister(model)
