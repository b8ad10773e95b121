"""The back office's admin site: the index and the sidebar grouped by the team that works there
(Support, Finance, Marketing, Catalogue, Administration), not by Django app; dj-stripe's mirror in
its own collapsed last group, for administrators only. Installed as the default site by
BackOfficeAdminConfig, which replaces "django.contrib.admin" in INSTALLED_APPS.

Imported while INSTALLED_APPS is read: no model may be imported at module level."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

# (key, heading, the models the team works on). A model named nowhere goes by its app
# (TEAM_OF_APP), and anything else (users, keys, the worker, new apps) to Administration.
TEAMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "support",
        "Support",
        ("payments.customer", "plans.subscription", "plans.access", "payments.paymentmethod", "integrations.event"),
    ),
    ("finance", "Finance", ("payments.payment", "payments.refund", "payments.invoice", "payments.payout")),
    ("marketing", "Marketing", ("coupons.coupon", "coupons.couponcode", "coupons.codegeneration")),
    ("catalogue", "Catalogue", ("plans.plan",)),
    ("administration", "Administration", ("payments.gatewayaccount", "integrations.apikey", "auth.user")),
)
TEAM_OF_APP = {"payments": "finance", "coupons": "marketing", "plans": "catalogue"}
DEFAULT_TEAM = "administration"
MIRROR_APP = "djstripe"
MIRROR_HEADING = "Stripe mirror (dj-stripe)"
ADMINISTRATOR_ROLE = "administrator"  # mediamanager.roles.ROLES' key (not imported: it imports models)


class BackOfficeSite(admin.AdminSite):
    site_header = "Media Manager Payments"
    site_title = "Media Manager Payments"
    index_title = "Billing back office"

    def get_app_list(self, request, app_label=None):
        """The team groups, each with the models the staff member may view or change (Django's
        own per-model permission checks build the list); an app's own page stays Django's."""
        if app_label is not None:
            return super().get_app_list(request, app_label)
        model_team = {label: key for key, _, labels in TEAMS for label in labels}
        position = {label: index for _, _, labels in TEAMS for index, label in enumerate(labels)}
        groups = {key: {"name": heading, "app_label": f"team-{key}", "models": []} for key, heading, _ in TEAMS}
        mirror = []
        for app in self._build_app_dict(request).values():
            for model in app["models"]:
                label = model["model"]._meta.label_lower
                if app["app_label"] == MIRROR_APP:
                    mirror.append(model)
                    continue
                team = model_team.get(label) or TEAM_OF_APP.get(app["app_label"], DEFAULT_TEAM)
                groups[team]["models"].append(model)
        app_list = []
        for group in groups.values():
            if group["models"]:
                group["models"].sort(key=lambda m: (position.get(m["model"]._meta.label_lower, 99), m["name"]))
                app_list.append({**group, "app_url": "", "has_module_perms": True})
        if mirror and self._is_administrator(request.user):
            mirror.sort(key=lambda m: m["name"])
            app_list.append(
                {
                    "name": MIRROR_HEADING,
                    "app_label": MIRROR_APP,
                    "app_url": "",
                    "has_module_perms": True,
                    "models": mirror,
                    "collapsed": True,
                }
            )
        return app_list

    @staticmethod
    def _is_administrator(user) -> bool:
        return user.is_active and (user.is_superuser or user.groups.filter(name=ADMINISTRATOR_ROLE).exists())


class BackOfficeAdminConfig(AdminConfig):
    """django.contrib.admin with BackOfficeSite as `admin.site` (autodiscovery as usual)."""

    default_site = "mediamanager.admin_site.BackOfficeSite"
