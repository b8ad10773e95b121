"""The back office's admin site (installed as the default `admin.site`): no admin page, the index
included, opens to a session that has not passed a second factor. Signing in is the password
(django-axes in front), then a code from an authenticator app, a passkey or a recovery code; a
staff member without a device enrols first. Only the sign-in, second-step, enrolment and sign-out
pages open before that."""

from functools import update_wrapper

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache


def user_is_verified(user) -> bool:
    """The session passed a second factor (django-otp's OTPMiddleware sets `is_verified`)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and callable(is_verified) and is_verified())


class BackOfficeSite(admin.AdminSite):
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
        ]
        return own + [url for url in super().get_urls() if getattr(url, "name", None) != "logout"]
