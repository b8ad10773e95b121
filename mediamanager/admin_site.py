"""The back office's admin site (installed as the default `admin.site` by
mediamanager.apps.BackOfficeAdminConfig, in place of django.contrib.admin's):

- no admin page, the index included, opens to a session that has not passed a second factor.
  Signing in is the password (django-axes in front), then a code from an authenticator app, a
  passkey or a recovery code; a staff member without a device enrols first. Only the sign-in,
  second-step, enrolment and sign-out pages open before that;
- the index and the sidebar are grouped by the team that works there (Support, Finance,
  Marketing, Catalogue, Administration), not by Django app; dj-stripe's mirror in its own
  collapsed last group, for administrators only;
- screens that are no model's list (integrations.kernel.admin.AdminScreen: the tax report) are
  mounted here, permission-checked, and listed in their team's group like a model.

Imported while the admin app gets ready: no model may be imported at module level."""

from functools import update_wrapper

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

# (key, heading, the models the team works on). A model named nowhere goes by its app
# (TEAM_OF_APP), and anything else (users, keys, the worker, new apps) to Administration.
TEAMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "support",
        "Support",
        (
            "payments.customer",
            "plans.subscription",
            "plans.access",
            "payments.paymentmethod",
            "integrations.event",
            "plans.outgoingemail",
        ),
    ),
    (
        "finance",
        "Finance",
        (
            "payments.payment",
            "payments.refund",
            "payments.invoice",
            "payments.creditnote",
            "payments.payout",
            "payments.taxregistration",
            "payments.taxrate",
            "payments.tax-report",
            "payments.exchangerate",
        ),
    ),
    ("marketing", "Marketing", ("coupons.coupon", "coupons.couponcode", "coupons.codegeneration")),
    ("catalogue", "Catalogue", ("plans.plan",)),
    (
        "administration",
        "Administration",
        (
            "payments.gatewayaccount",
            "integrations.apikey",
            "integrations.signingkey",
            "auth.user",
            "integrations.auditevent",
        ),
    ),
)
TEAM_OF_APP = {"payments": "finance", "coupons": "marketing", "plans": "catalogue"}
DEFAULT_TEAM = "administration"
MIRROR_APP = "djstripe"
MIRROR_HEADING = "Stripe mirror (dj-stripe)"
ADMINISTRATOR_ROLE = "administrator"  # mediamanager.roles.ROLES' key (not imported: it imports models)


def user_is_verified(user) -> bool:
    """The session passed a second factor (django-otp's OTPMiddleware sets `is_verified`)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and callable(is_verified) and is_verified())


class BackOfficeSite(admin.AdminSite):
    site_header = "Media Manager Payments"
    site_title = "Media Manager Payments"
    index_title = "Billing back office"

    def get_app_list(self, request, app_label=None):
        """The team groups, each with the models the staff member may view or change (Django's
        own per-model permission checks build the list); an app's own page stays Django's."""
        from integrations.kernel.admin import admin_screens

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
                groups[team]["models"].append({**model, "label": label})
        for screen in admin_screens():
            if request.user.has_perm(screen.permission):
                team = model_team.get(screen.label) or TEAM_OF_APP.get(screen.app_label, DEFAULT_TEAM)
                groups[team]["models"].append(self._screen_entry(screen))
        app_list = []
        for group in groups.values():
            if group["models"]:
                group["models"].sort(key=lambda m: (position.get(m["label"], 99), m["name"]))
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

    def _screen_entry(self, screen) -> dict:
        """A screen as the index lists a model: a link, no "Add"."""
        return {
            "name": screen.name,
            "object_name": screen.object_name,
            "label": screen.label,
            "model": None,
            "perms": {"add": False, "change": False, "delete": False, "view": True},
            "admin_url": reverse(f"{self.name}:{screen.url_name}", current_app=self.name),
            "add_url": None,
            "view_only": True,
        }

    def index(self, request, extra_context=None):
        """The dashboard above the team groups (mediamanager/dashboard.py), as the role may see it."""
        from mediamanager.dashboard import dashboard_context

        return super().index(
            request, extra_context={**dashboard_context(request.user, request.GET), **(extra_context or {})}
        )

    def dashboard_csv(self, request, key: str):
        """One dashboard chart's data as CSV, for whoever may see the chart (else 403; unknown: 404)."""
        from django.http import Http404, HttpResponseBadRequest

        from integrations.kernel.csv_export import csv_response
        from integrations.kernel.errors import InvalidRequest
        from mediamanager.dashboard import dashboard_csv_rows

        try:
            chart, filters, rows = dashboard_csv_rows(request.user, key, request.GET)
        except LookupError:
            raise Http404 from None
        except PermissionError:
            raise PermissionDenied from None
        except InvalidRequest as error:
            return HttpResponseBadRequest(error.message, content_type="text/plain")
        name = f"{chart.key}-{filters.currency}-{filters.date_from}-{filters.date_to}.csv"
        return csv_response([list(chart.columns), *rows], filename=name)

    def _screen_view(self, screen):
        """The screen behind the second factor (admin_view), refused (403) without its permission."""

        def view(request):
            if not request.user.has_perm(screen.permission):
                raise PermissionDenied
            return screen.view(request, site=self)

        return self.admin_view(update_wrapper(view, screen.view))

    @staticmethod
    def _is_administrator(user) -> bool:
        return user.is_active and (user.is_superuser or user.groups.filter(name=ADMINISTRATOR_ROLE).exists())

    # --- second factor (mediamanager/staff_security_views.py has the pages)

    def has_permission(self, request):
        return super().has_permission(request) and user_is_verified(request.user)

    def admin_view(self, view, cacheable=False):
        """Every admin view, refused without a second factor (has_permission); a session that
        ended (idle, or its user disabled) is told why on the sign-in page."""
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            from mediamanager.staff_security_views import ended_session_notice

            notice = ended_session_notice(request)
            response = inner(request, *args, **kwargs)
            if notice:
                messages.warning(request, notice)
            return response

        return update_wrapper(guarded, inner)

    def login(self, request, extra_context=None):
        """The password step; a signed-in staff member still owing the second factor goes on to
        it (or to enrolment) instead of seeing the password form again."""
        from mediamanager.staff_security_views import ended_session_notice, second_step_redirect

        user = request.user
        if request.method == "GET" and user.is_authenticated and user.is_active and user.is_staff:
            if not user_is_verified(user):
                return second_step_redirect(request, site=self, next_url=self.next_url(request))
        elif request.method == "GET" and (notice := ended_session_notice(request)):
            messages.warning(request, notice)
        response = super().login(request, extra_context)
        signed_in = request.method == "POST" and response.status_code == 302 and request.user.is_authenticated
        if signed_in and not user_is_verified(request.user):
            return second_step_redirect(request, site=self, next_url=self.next_url(request))
        return response

    def next_url(self, request) -> str:
        """Where to go once signed in: the page asked for, if it is one of ours, else the index."""
        wanted = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
        safe = url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return wanted if wanted and safe else reverse("admin:index", current_app=self.name)

    def get_urls(self):
        from django.urls import path

        from integrations.kernel.admin import admin_screens
        from mediamanager import staff_security_views as views

        def signed_in(view):
            """Open to a staff member who passed the password step, second factor or not."""
            return update_wrapper(never_cache(views.staff_signed_in(view, site=self)), view)

        def verified(view):
            return self.admin_view(views.with_site(view, site=self))

        own = [
            path("sign-in/second-step/", signed_in(views.second_step), name="staff_second_step"),
            path("sign-in/enrol/", signed_in(views.enrol), name="staff_enrol"),
            path("sign-in/recovery-codes/", verified(views.recovery_codes), name="staff_recovery_codes"),
            path("security/", verified(views.security_page), name="staff_security"),
            path("security/remove/", verified(views.device_remove), name="staff_device_remove"),
            # Signing out needs no second factor (the stock one sends an unverified session to the index).
            path("logout/", never_cache(self.logout), name="logout"),
            path("dashboard/<slug:key>.csv", self.admin_view(self.dashboard_csv), name="dashboard_csv"),
        ]
        own += [
            path(f"{screen.app_label}/{screen.slug}/", self._screen_view(screen), name=screen.url_name)
            for screen in admin_screens()
        ]
        return own + [url for url in super().get_urls() if getattr(url, "name", None) != "logout"]
