"""The staff sign-in pages after the password: the second step (a code, a passkey or a recovery
code), enrolment (an authenticator app by QR code or its otpauth:// URI, or a passkey; then the
recovery codes, shown once), and the "Sign-in security" page. Thin: the services in
mediamanager/staff_security.py do the work. Passkey ceremonies are django-otp-webauthn's views,
here refused to anyone but signed-in staff and recorded."""

from functools import update_wrapper

import django_otp
import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django.views.i18n import JavaScriptCatalog
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn import exceptions as webauthn_errors
from django_otp_webauthn import views as webauthn_views
from django_otp_webauthn.models import WebAuthnCredential

from mediamanager import staff_security as security
from mediamanager.admin_site import user_is_verified

REFUSED = "refused"


# --- helpers for the admin site


def ended_session_notice(request) -> str:
    """Why a request that carried a session cookie is no longer signed in, to tell on the sign-in
    page: the session expired (idle) or was signed out, or its user was disabled (that session is
    ended here and then, and the refusal recorded)."""
    if request.user.is_authenticated or settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return ""
    user_id = request.session.get(SESSION_KEY)  # loads the session: an unknown or expired key reads as empty
    if user_id is not None:
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        reason = "user_disabled" if user is not None else "user_unknown"
        security.staff_security_event(request, action=security.SESSION_ENDED, user=user, outcome=REFUSED, reason=reason)
        request.session.flush()
        return "Your session has ended: this account is disabled. Ask an administrator."
    if request.session.session_key is None:
        minutes = settings.SESSION_COOKIE_AGE // 60
        return f"Your session has ended (after {minutes} minutes without activity, or signed out): sign in again."
    return ""


def second_step_redirect(request, *, site, next_url: str) -> HttpResponseRedirect:
    name = "admin:staff_second_step" if security.staff_is_enrolled(user=request.user) else "admin:staff_enrol"
    return HttpResponseRedirect(f"{reverse(name, current_app=site.name)}?{urlencode({'next': next_url})}")


def staff_signed_in(view, *, site):
    """A page for a staff member past the password step, whether or not past the second factor."""

    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            if notice := ended_session_notice(request):
                messages.warning(request, notice)
            return redirect_to_login(request.get_full_path(), reverse("admin:login", current_app=site.name))
        return view(request, *args, site=site, **kwargs)

    return update_wrapper(wrapper, view)


def with_site(view, *, site):
    def wrapper(request, *args, **kwargs):
        return view(request, *args, site=site, **kwargs)

    return update_wrapper(wrapper, view)


def _page(request, *, site, template: str, title: str, **context) -> TemplateResponse:
    base = (
        site.each_context(request)
        if site.has_permission(request)
        # Before the second factor: the page frame only, no menu of what lies behind it.
        else {
            "site_header": site.site_header,
            "site_title": site.site_title,
            "site_url": None,
            "has_permission": False,
            "is_nav_sidebar_enabled": False,
            "is_popup": False,
            "available_apps": [],
        }
    )
    return TemplateResponse(request, template, {**base, "title": title, **context})


def _verified(request, device: Device) -> None:
    """The session has passed the second factor with this device (django-otp), under a new key."""
    django_otp.login(request, device)
    request.session.cycle_key()


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = image.to_string(encoding="unicode")
    return mark_safe(svg[svg.index("<svg") :])  # noqa: S308 - our own generated SVG, no user input but the URI


# --- pages


def second_step(request, *, site):
    user = request.user
    next_url = site.next_url(request)
    if user_is_verified(user):
        return HttpResponseRedirect(next_url)
    if not security.staff_is_enrolled(user=user):
        return second_step_redirect(request, site=site, next_url=next_url)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = security.staff_second_factor_check(user=user, code=form.cleaned_data["code"])
        if check.accepted:
            _verified(request, check.device)
            security.staff_security_event(request, action=security.SECOND_FACTOR_VERIFIED, user=user)
            if check.recovery_code:
                security.staff_security_event(request, action=security.RECOVERY_CODE_USED, user=user)
                left = security.staff_recovery_codes_left(user=user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code: {left} left. Make new ones on the Sign-in security page "
                    "if you are running low.",
                )
            return HttpResponseRedirect(next_url)
        security.staff_security_event(
            request, action=security.SECOND_FACTOR_REFUSED, user=user, outcome=REFUSED, reason=check.reason
        )
        form.add_error("code", check.message)
    return _page(
        request,
        site=site,
        template="admin/staff_security/second_step.html",
        title="Second step",
        form=form,
        next=next_url,
        has_app=security.staff_has_authenticator_app(user=user),
        has_passkey=security.staff_has_passkey(user=user),
    )


def enrol(request, *, site):
    """First enrolment (no device yet), or another authenticator app from the security page."""
    user = request.user
    adding = user_is_verified(user)
    next_url = site.next_url(request)
    if not adding and security.staff_is_enrolled(user=user):
        return second_step_redirect(request, site=site, next_url=next_url)
    device = security.staff_totp_device_start(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = security.staff_totp_device_confirm(user=user, code=form.cleaned_data["code"])
        if check.accepted and adding:
            security.staff_security_event(request, action=security.AUTHENTICATOR_ADDED, user=user)
            messages.success(request, f"{check.device.name} added.")
            return HttpResponseRedirect(reverse("admin:staff_security", current_app=site.name))
        if check.accepted:
            _verified(request, check.device)
            codes = security.staff_recovery_codes_regenerate(user=user)
            security.staff_security_event(request, action=security.ENROLLED, user=user, reason="authenticator_app")
            return _recovery_codes_page(request, site=site, codes=codes, next_url=next_url, enrolled=True)
        security.staff_security_event(
            request, action=security.SECOND_FACTOR_REFUSED, user=user, outcome=REFUSED, reason=f"enrol_{check.reason}"
        )
        form.add_error("code", check.message)
        device = security.staff_totp_device_start(user=user)
    uri = device.config_url
    return _page(
        request,
        site=site,
        template="admin/staff_security/enrol.html",
        title="Add an authenticator app" if adding else "Set up your second factor",
        form=form,
        next=next_url,
        adding=adding,
        otpauth_uri=uri,
        qr_svg=_qr_svg(uri),
    )


def _recovery_codes_page(request, *, site, codes: list[str], next_url: str, enrolled: bool) -> TemplateResponse:
    response = _page(
        request,
        site=site,
        template="admin/staff_security/recovery_codes.html",
        title="Your recovery codes",
        codes=codes,
        next=next_url,
        enrolled=enrolled,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def recovery_codes(request, *, site):
    """New recovery codes, shown once (also the last step of enrolling with a passkey)."""
    user = request.user
    enrolled = request.POST.get("enrolled") == "1"
    codes = security.staff_recovery_codes_regenerate(user=user)
    security.staff_security_event(request, action=security.RECOVERY_CODES_REGENERATED, user=user)
    return _recovery_codes_page(request, site=site, codes=codes, next_url=site.next_url(request), enrolled=enrolled)


def security_page(request, *, site):
    user = request.user
    apps = TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("created_at", "pk")
    passkeys = WebAuthnCredential.objects.devices_for_user(user, confirmed=True).order_by("created_at", "pk")
    return _page(
        request,
        site=site,
        template="admin/staff_security/security.html",
        title="Sign-in security",
        apps=apps,
        passkeys=passkeys,
        current=getattr(user, "otp_device", None),
        recovery_codes_left=security.staff_recovery_codes_left(user=user),
    )


@require_POST
def device_remove(request, *, site):
    user = request.user
    try:
        device = security.staff_device_remove(user=user, persistent_id=request.POST.get("device", ""))
    except security.DeviceNotFound:
        messages.error(request, "That device is not one of yours, or was already removed.")
    except security.LastDeviceError as error:
        messages.error(request, str(error))
    else:
        security.staff_security_event(request, action=security.DEVICE_REMOVED, user=user)
        messages.success(request, format_html("{} removed.", device.name or "The device"))
    return HttpResponseRedirect(reverse("admin:staff_security", current_app=site.name))


# --- passkeys: django-otp-webauthn's ceremonies, for signed-in staff only, and recorded


def _is_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


class StaffOnlyRegistration:
    def check_can_register(self):
        if not _is_staff(self.request.user):
            raise webauthn_errors.NotAuthenticated()


class StaffOnlyAuthentication:
    def check_can_authenticate(self):
        if not _is_staff(self.request.user):
            raise webauthn_errors.NotAuthenticated()


class PasskeyRegistrationBegin(StaffOnlyRegistration, webauthn_views.BeginCredentialRegistrationView):
    pass


class PasskeyRegistrationComplete(StaffOnlyRegistration, webauthn_views.CompleteCredentialRegistrationView):
    def post(self, *args, **kwargs):
        user = self.request.user
        enrolling = not security.staff_is_enrolled(user=user)
        was_verified = user_is_verified(user)
        try:
            response = super().post(*args, **kwargs)
        except webauthn_errors.OTPWebAuthnApiError as error:
            security.staff_security_event(
                self.request, action=security.PASSKEY_ADDED, user=user, outcome=REFUSED, reason=error.code
            )
            raise
        security.staff_passkeys_name(user=user)
        if not was_verified:
            self.request.session.cycle_key()
        security.staff_security_event(self.request, action=security.PASSKEY_ADDED, user=user)
        if enrolling:
            security.staff_security_event(self.request, action=security.ENROLLED, user=user, reason="passkey")
        return response


class PasskeyAuthenticationBegin(StaffOnlyAuthentication, webauthn_views.BeginCredentialAuthenticationView):
    pass


class PasskeyAuthenticationComplete(StaffOnlyAuthentication, webauthn_views.CompleteCredentialAuthenticationView):
    def post(self, *args, **kwargs):
        user = self.request.user
        try:
            response = super().post(*args, **kwargs)
        except webauthn_errors.OTPWebAuthnApiError as error:
            security.staff_security_event(
                self.request,
                action=security.SECOND_FACTOR_REFUSED,
                user=user if user.is_authenticated else None,
                outcome=REFUSED,
                reason=f"passkey_{error.code}",
            )
            raise
        self.request.session.cycle_key()
        security.staff_security_event(self.request, action=security.SECOND_FACTOR_VERIFIED, user=user, reason="passkey")
        return response

    def get_success_url(self):
        return self.get_redirect_url() or reverse("admin:index")


# Under the "otp_webauthn" namespace that django-otp-webauthn's template tags reverse.
passkey_urls = (
    [
        path("registration/begin/", PasskeyRegistrationBegin.as_view(), name="credential-registration-begin"),
        path("registration/complete/", PasskeyRegistrationComplete.as_view(), name="credential-registration-complete"),
        path("authentication/begin/", PasskeyAuthenticationBegin.as_view(), name="credential-authentication-begin"),
        path(
            "authentication/complete/",
            PasskeyAuthenticationComplete.as_view(),
            name="credential-authentication-complete",
        ),
        path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
    ],
    "otp_webauthn",
)
