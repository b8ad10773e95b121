"""Staff sign-in security: the second factor's devices (authenticator apps, passkeys, one-time
recovery codes), checking a code, and the one place every sign-in security event is recorded.

Devices are django-otp's own models (otp_totp, otp_static, django_otp_webauthn): the crypto is
theirs. A staff member is *enrolled* once they hold a confirmed authenticator app or passkey;
recovery codes alone are not a way in for someone never enrolled."""

from dataclasses import dataclass

import django_otp
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.oath import hotp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from integrations.kernel.api.addresses import client_address
from integrations.kernel.audit import audit_actor, audit_context, audit_record

# The actions written to the audit log (API.md "Audit": every staff sign-in event).
SECOND_FACTOR_VERIFIED = "staff.second_factor_verified"
SECOND_FACTOR_REFUSED = "staff.second_factor_refused"
ENROLLED = "staff.enrolled"
RECOVERY_CODE_USED = "staff.recovery_code_used"
RECOVERY_CODES_REGENERATED = "staff.recovery_codes_regenerated"
PASSKEY_ADDED = "staff.passkey_added"
AUTHENTICATOR_ADDED = "staff.authenticator_added"
DEVICE_REMOVED = "staff.device_removed"
SECOND_FACTOR_RESET = "staff.second_factor_reset"
SESSION_ENDED = "staff.session_ended"

AUTHENTICATOR_APP = "Authenticator app"
RECOVERY_CODES = "Recovery codes"


def staff_security_event(
    request, *, action: str, user, outcome: str = "succeeded", reason: str = "", actor=None
) -> None:
    """Record one sign-in security event in the audit log: who (`actor`; else on a page the staff
    member themself, in a command whoever it runs as), what happened to whose
    sign-in, from where, with what outcome, and why it was refused. Never a code, a secret or a
    key: callers pass none, and this takes none."""
    if actor is None:  # on a page, the staff member signing in; in a command, its --actor (or system)
        actor = user if request is not None else (audit_actor() or user)
    changes = {"reason": [None, reason]} if reason else None
    if request is None:
        audit_record(
            action=action, object_type="user", object_id=_user_id(user), changes=changes, outcome=outcome, actor=actor
        )
        return
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    with audit_context(actor=actor, ip=client_address(request), user_agent=user_agent):
        audit_record(action=action, object_type="user", object_id=_user_id(user), changes=changes, outcome=outcome)


def _user_id(user) -> str:
    return str(user.pk) if user is not None else ""


# --- reads


def staff_primary_devices(*, user) -> list[Device]:
    """The user's confirmed authenticator apps and passkeys (what a sign-in asks for)."""
    apps = list(TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("created_at", "pk"))
    passkeys = list(WebAuthnCredential.objects.devices_for_user(user, confirmed=True).order_by("created_at", "pk"))
    return [*apps, *passkeys]


def staff_is_enrolled(*, user) -> bool:
    return (
        TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()
        or WebAuthnCredential.objects.devices_for_user(user, confirmed=True).exists()
    )


def staff_has_passkey(*, user) -> bool:
    return WebAuthnCredential.objects.devices_for_user(user, confirmed=True).exists()


def staff_has_authenticator_app(*, user) -> bool:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def staff_recovery_codes_left(*, user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# --- writes


@transaction.atomic
def staff_totp_device_start(*, user) -> TOTPDevice:
    """An authenticator app waiting to be confirmed with its first code: the user's pending one if
    there is one (a reload shows the same QR code), else a new one with a fresh random secret.
    Someone never enrolled starts clean: recovery codes left from an earlier enrolment go."""
    if not staff_is_enrolled(user=user):
        StaticDevice.objects.filter(user=user).delete()
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if pending is not None:
        return pending
    count = TOTPDevice.objects.filter(user=user).count()
    name = AUTHENTICATOR_APP if count == 0 else f"{AUTHENTICATOR_APP} {count + 1}"
    return TOTPDevice.objects.create(user=user, name=name, confirmed=False)


@dataclass(frozen=True)
class CodeCheck:
    """What checking a code found: the device that accepted it, or why it was refused."""

    device: Device | None
    reason: str = ""  # wrong_code, replayed_code, throttled, recovery_code_invalid, no_pending_device
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.device is not None

    @property
    def recovery_code(self) -> bool:
        return isinstance(self.device, StaticDevice)


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _is_authenticator_code(code: str) -> bool:
    return code.isdigit() and len(code) == 6


def _throttled_message(devices: list[Device]) -> str:
    until = max(info["locked_until"] for allowed, info in (d.verify_is_allowed() for d in devices) if not allowed)
    seconds = max(1, int((until - timezone.now()).total_seconds() + 0.999))
    return f"Too many wrong codes: wait {seconds} seconds, then try again."


def _already_used(device: TOTPDevice, code: str) -> bool:
    """The code is one this app already gave and that was accepted (a TOTP code works once)."""
    device.refresh_from_db(fields=["last_t"])
    if device.last_t < 0:
        return False
    return any(
        hotp(device.bin_key, t, digits=device.digits) == int(code) for t in range(device.last_t - 2, device.last_t + 1)
    )


def _verify_on(user, devices: list[Device], code: str) -> tuple[Device | None, bool]:
    """(the device that accepted the code, whether every device was throttled)."""
    allowed = [device for device in devices if device.verify_is_allowed()[0]]
    for device in allowed:
        verified = django_otp.verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified, False
    return None, bool(devices) and not allowed


def staff_second_factor_check(*, user, code: str) -> CodeCheck:
    """Check a sign-in code: six digits from an authenticator app, or a recovery code (used up
    when accepted). django-otp keeps each app's last accepted step, so a code works once, and it
    slows down repeated failures (1, 2, 4, ... seconds)."""
    code = _normalized(code)
    if _is_authenticator_code(code):
        devices = list(TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("-last_used_at", "pk"))
        device, throttled = _verify_on(user, devices, code)
        if device is not None:
            return CodeCheck(device=device)
        if throttled:
            return CodeCheck(device=None, reason="throttled", message=_throttled_message(devices))
        if any(_already_used(d, code) for d in devices):
            return CodeCheck(
                device=None,
                reason="replayed_code",
                message="That code has already been used: each code works once. Wait for the next one from your app.",
            )
        return CodeCheck(
            device=None,
            reason="wrong_code",
            message="That code is not right. Check the clock of the device running your authenticator app, "
            "or use a recovery code.",
        )
    devices = list(StaticDevice.objects.devices_for_user(user, confirmed=True))
    device, throttled = _verify_on(user, devices, code)
    if device is not None:
        return CodeCheck(device=device)
    if throttled:
        return CodeCheck(device=None, reason="throttled", message=_throttled_message(devices))
    return CodeCheck(
        device=None,
        reason="recovery_code_invalid",
        message="That is not a valid code. An authenticator code has 6 digits; a recovery code works once.",
    )


def staff_totp_device_confirm(*, user, code: str) -> CodeCheck:
    """Confirm the user's pending authenticator app with a code it shows."""
    code = _normalized(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
        if device is None:
            return CodeCheck(device=None, reason="no_pending_device", message="Start again: reload this page.")
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            return CodeCheck(device=None, reason="throttled", message=_throttled_message([device]))
        if not (_is_authenticator_code(code) and device.verify_token(code)):
            return CodeCheck(
                device=None,
                reason="wrong_code",
                message="That code is not right: enter the 6 digits your app shows now for Media Manager Payments.",
            )
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return CodeCheck(device=device)


@transaction.atomic
def staff_recovery_codes_regenerate(*, user) -> list[str]:
    """A new set of one-time recovery codes; the old ones stop working. The codes are returned
    for showing once, never logged."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_CODES, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.STAFF_RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


class LastDeviceError(Exception):
    """Removing this device would leave the user without a second factor."""


class DeviceNotFound(Exception):
    """No such device of this user's."""


@transaction.atomic
def staff_passkeys_name(*, user) -> None:
    """A passkey just registered (django-otp-webauthn leaves it unnamed) is called "Passkey N"."""
    count = WebAuthnCredential.objects.filter(user=user).count()
    WebAuthnCredential.objects.filter(user=user, name="").update(name=f"Passkey {count}")


def staff_device_remove(*, user, persistent_id: str) -> Device:
    """Remove one of the user's own authenticator apps or passkeys; never the last one (an
    administrator resets a lost second factor: `manage.py staff_reset_second_factor`)."""
    device = Device.from_persistent_id(persistent_id, for_verify=True)
    if device is None or device.user_id != user.pk or isinstance(device, StaticDevice):
        raise DeviceNotFound(persistent_id)
    if device.confirmed and len(staff_primary_devices(user=user)) <= 1:
        raise LastDeviceError("Keep at least one authenticator app or passkey: add another before removing this one.")
    device.delete()
    return device


@transaction.atomic
def staff_second_factor_reset(*, user: AbstractBaseUser) -> int:
    """Remove every second-factor device of the user (apps, passkeys, recovery codes): their
    live sessions lose their second factor, and they enrol again at the next sign-in."""
    removed = 0
    for model in (TOTPDevice, StaticDevice, WebAuthnCredential):
        _, per_model = model.objects.filter(user=user).delete()
        removed += per_model.get(model._meta.label, 0)
    return removed


def staff_demo_device_create(*, user) -> TOTPDevice:
    """For `make run` (DEBUG only): the demo user's one confirmed authenticator app, new each run."""
    staff_second_factor_reset(user=user)
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_APP, confirmed=True)
