"""The staff second factor (PCI DSS 8.4): no admin page without it; enrolment (QR code and
otpauth:// URI, then recovery codes once); the second step (an app's code works once, a recovery
code works once, wrong codes slow down); disabled users' and expired sessions end; the events are
recorded without a code or secret."""

import re
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import audit_text, sign_in_verified

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", "ops@example.com", PASSWORD, is_staff=True, is_superuser=True)


def _code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + steps_ahead * device.step
    return f"{totp.token():06d}"


def _wrong_code(device: TOTPDevice) -> str:
    valid = {_code(device, steps_ahead=n) for n in range(-3, 4)}
    return next(code for code in (f"{n:06d}" for n in range(123456, 999999, 7919)) if code not in valid)


def _password(client, username="ops", password=PASSWORD, next_url="/admin/"):
    return client.post(f"/admin/login/?next={next_url}", {"username": username, "password": password})


def _enrolled(user) -> TOTPDevice:
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    StaticToken.objects.bulk_create(
        StaticToken(device=StaticDevice.objects.get_or_create(user=user, name="Recovery codes")[0], token=token)
        for token in ("aaaa2222", "bbbb3333")
    )
    return device


def _past_password(staff) -> Client:
    """Signed in with the password only: the second factor still owed."""
    client = Client()
    assert _password(client).status_code == 302
    return client


# --- no admin page without the second factor


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",  # the index
        "/admin/payments/customer/",  # a model page
        "/admin/payments/payment/pay_unknown/refund/",  # a custom admin view
        "/admin/auth/user/",
        "/admin/security/",
        "/admin/password_change/",
    ],
)
def test_a_session_past_the_password_only_is_sent_to_the_second_step_from_every_admin_page(staff, path):
    _enrolled(staff)
    client = _past_password(staff)

    response = client.get(path, follow=True)

    assert response.redirect_chain[-1][0].startswith("/admin/sign-in/second-step/")
    assert "Second step" in response.content.decode()
    assert 'href="/admin/payments/' not in response.content.decode()  # no menu of what lies behind


def test_the_password_step_goes_straight_on_to_the_second_step_keeping_the_page_asked_for(staff):
    _enrolled(staff)

    response = _password(Client(), next_url="/admin/payments/customer/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/sign-in/second-step/?next=%2Fadmin%2Fpayments%2Fcustomer%2F"


def test_a_staff_member_without_a_device_is_sent_to_enrol_before_any_admin_page(staff):
    client = _past_password(staff)

    response = client.get("/admin/plans/plan/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/admin/sign-in/enrol/")
    assert client.get("/admin/sign-in/second-step/")["Location"].startswith("/admin/sign-in/enrol/")


def test_the_sign_in_pages_need_the_password_first():
    for path in ("/admin/sign-in/second-step/", "/admin/sign-in/enrol/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_a_staff_member_with_a_device_cannot_enrol_another_before_the_second_factor(staff):
    _enrolled(staff)
    client = _past_password(staff)

    response = client.get("/admin/sign-in/enrol/")

    assert response["Location"].startswith("/admin/sign-in/second-step/")
    assert not TOTPDevice.objects.filter(user=staff, confirmed=False).exists()


def test_a_session_past_the_password_only_can_sign_out(staff):
    _enrolled(staff)
    client = _past_password(staff)

    response = client.post("/admin/logout/")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/sign-in/second-step/")["Location"].startswith("/admin/login/")


def test_a_non_staff_user_gets_no_second_step(django_user_model):
    django_user_model.objects.create_user("viewer", password=PASSWORD)
    client = Client()
    client.post("/admin/login/?next=/admin/", {"username": "viewer", "password": PASSWORD})
    client.force_login(django_user_model.objects.get(username="viewer"))

    assert client.get("/admin/sign-in/second-step/")["Location"].startswith("/admin/login/")


# --- enrolment


def test_enrolment_shows_the_qr_code_and_the_otpauth_uri_then_recovery_codes_once(staff):
    client = _past_password(staff)

    page = client.get("/admin/sign-in/enrol/?next=/admin/").content.decode()

    assert "<svg" in page
    uri = re.search(r'id="otpauth-uri">(otpauth://totp/[^<]+)<', page).group(1)
    assert "secret=" in uri and "Media%20Manager%20Payments" in uri
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    done = client.post("/admin/sign-in/enrol/?next=/admin/", {"code": _code(device), "next": "/admin/"})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True))
    assert "no-store" in done["Cache-Control"]
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/admin/").status_code == 200  # verified
    assert "staff.enrolled outcome=succeeded" in audit_text()
    assert not any(code in audit_text() for code in codes) and device.key not in audit_text()


def test_reloading_the_enrolment_page_keeps_the_same_secret(staff):
    client = _past_password(staff)
    first = re.search(r"secret=(\w+)", client.get("/admin/sign-in/enrol/").content.decode()).group(1)

    second = re.search(r"secret=(\w+)", client.get("/admin/sign-in/enrol/").content.decode()).group(1)

    assert first == second
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_enrolment_refuses_a_wrong_code_with_a_clear_message_and_stays_unverified(staff):
    client = _past_password(staff)
    client.get("/admin/sign-in/enrol/")
    device = TOTPDevice.objects.get(user=staff)

    response = client.post("/admin/sign-in/enrol/", {"code": _wrong_code(device)})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert "staff.second_factor_refused outcome=refused" in audit_text() and "enrol_wrong_code" in audit_text()


# --- the second step


def test_the_right_code_passes_the_second_step_and_goes_to_the_page_asked_for(staff):
    device = _enrolled(staff)
    client = _past_password(staff)
    key_before = client.session.session_key

    response = client.post("/admin/sign-in/second-step/", {"code": _code(device), "next": "/admin/payments/customer/"})

    assert response.status_code == 302 and response["Location"] == "/admin/payments/customer/"
    assert client.get("/admin/payments/customer/").status_code == 200
    assert client.session.session_key != key_before  # a new session key once verified
    assert "staff.second_factor_verified outcome=succeeded" in audit_text()


def test_an_authenticator_code_works_once(staff):
    device = _enrolled(staff)
    code = _code(device)
    assert _past_password(staff).post("/admin/sign-in/second-step/", {"code": code}).status_code == 302
    client = _past_password(staff)

    replayed = client.post("/admin/sign-in/second-step/", {"code": code})

    assert replayed.status_code == 200
    assert "That code has already been used" in replayed.content.decode()
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert "reason=replayed_code" in audit_text() and code not in audit_text()


def test_a_wrong_code_is_refused_with_a_clear_message(staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = _enrolled(staff)
    client = _past_password(staff)

    response = client.post("/admin/sign-in/second-step/", {"code": _wrong_code(device)})

    assert "That code is not right" in response.content.decode()
    assert client.post("/admin/sign-in/second-step/", {"code": _code(device)}).status_code == 302


def test_wrong_codes_slow_down_further_tries_even_the_right_one(staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    device = _enrolled(staff)
    client = _past_password(staff)
    client.post("/admin/sign-in/second-step/", {"code": _wrong_code(device)})

    response = client.post("/admin/sign-in/second-step/", {"code": _code(device)})

    assert response.status_code == 200
    assert "Too many wrong codes: wait" in response.content.decode()
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_a_recovery_code_works_once(staff):
    _enrolled(staff)
    client = _past_password(staff)
    first = client.post("/admin/sign-in/second-step/", {"code": "AAAA 2222"})
    assert first.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert "staff.recovery_code_used outcome=succeeded" in audit_text()
    assert list(StaticToken.objects.values_list("token", flat=True)) == ["bbbb3333"]
    again = _past_password(staff)

    second = again.post("/admin/sign-in/second-step/", {"code": "aaaa2222"})

    assert second.status_code == 200
    assert "a recovery code works once" in second.content.decode()
    assert again.get("/admin/")["Location"].startswith("/admin/login/")
    assert "aaaa2222" not in audit_text()


def test_an_empty_or_overlong_code_is_a_form_error_not_a_500(staff):
    _enrolled(staff)
    client = _past_password(staff)

    assert "This field is required" in client.post("/admin/sign-in/second-step/", {"code": ""}).content.decode()
    assert client.post("/admin/sign-in/second-step/", {"code": "9" * 5000}).status_code == 200


def test_the_same_code_posted_by_two_sessions_verifies_only_one(staff):
    device = _enrolled(staff)
    code = _code(device)
    first, second = _past_password(staff), _past_password(staff)

    outcomes = [c.post("/admin/sign-in/second-step/", {"code": code}).status_code for c in (first, second)]

    assert outcomes == [302, 200]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_code_sent_at_once_by_four_sign_ins_verifies_exactly_one(staff):
    device = _enrolled(staff)
    code = _code(device)
    clients = [_past_password(staff) for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    outcomes = []

    def attempt(client):
        try:
            barrier.wait()
            outcomes.append(client.post("/admin/sign-in/second-step/", {"code": code}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [200, 200, 200, 302]
    assert sum(client.get("/admin/").status_code == 200 for client in clients) == 1


# --- sessions that end


def test_a_disabled_users_live_session_stops_at_the_next_request(staff):
    client = sign_in_verified(Client(), staff)
    assert client.get("/admin/").status_code == 200
    staff.is_active = False
    staff.save()

    response = client.get("/admin/payments/customer/", follow=True)

    assert response.redirect_chain[0][0].startswith("/admin/login/")
    assert "Your session has ended: this account is disabled" in response.content.decode()
    assert "staff.session_ended outcome=refused" in audit_text() and "reason=user_disabled" in audit_text()
    assert client.get("/admin/").status_code == 302


def test_an_expired_session_is_refused_with_a_message(staff):
    client = sign_in_verified(Client(), staff)
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[0][0].startswith("/admin/login/")
    assert "Your session has ended (after 15 minutes without activity" in response.content.decode()


def test_a_session_whose_device_was_removed_owes_the_second_factor_again(staff):
    client = sign_in_verified(Client(), staff)

    call_command("staff_reset_second_factor", "ops", stdout=StringIO())

    assert client.get("/admin/", follow=True).redirect_chain[-1][0].startswith("/admin/sign-in/enrol/")


# --- the security page


def test_the_security_page_lists_the_devices_and_keeps_the_last_one(staff):
    client = sign_in_verified(Client(), staff)
    device = TOTPDevice.objects.get(user=staff)

    page = client.get("/admin/security/").content.decode()
    assert "Sign-in security" in page and "Authenticator app" in page and device.key not in page

    response = client.post("/admin/security/remove/", {"device": device.persistent_id}, follow=True)

    assert "Keep at least one authenticator app or passkey" in response.content.decode()
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_a_second_app_is_added_on_the_security_page_and_then_one_can_go(staff):
    client = sign_in_verified(Client(), staff)
    first = TOTPDevice.objects.get(user=staff)
    assert "otpauth://totp/" in client.get("/admin/sign-in/enrol/").content.decode()
    pending = TOTPDevice.objects.get(user=staff, confirmed=False)

    added = client.post("/admin/sign-in/enrol/", {"code": _code(pending)})
    removed = client.post("/admin/security/remove/", {"device": first.persistent_id})

    assert added["Location"] == "/admin/security/"
    assert removed["Location"] == "/admin/security/"
    assert list(TOTPDevice.objects.filter(user=staff).values_list("pk", flat=True)) == [pending.pk]
    assert "staff.authenticator_added" in audit_text() and "staff.device_removed" in audit_text()


def test_nobody_removes_another_users_device(staff, django_user_model):
    other = django_user_model.objects.create_user("other", password=PASSWORD, is_staff=True)
    theirs = TOTPDevice.objects.create(user=other, name="Theirs", confirmed=True)
    TOTPDevice.objects.create(user=other, name="Theirs too", confirmed=True)
    client = sign_in_verified(Client(), staff)

    response = client.post("/admin/security/remove/", {"device": theirs.persistent_id}, follow=True)

    assert "not one of yours" in response.content.decode()
    assert TOTPDevice.objects.filter(pk=theirs.pk).exists()


def test_new_recovery_codes_replace_the_old_ones(staff):
    _enrolled(staff)
    client = sign_in_verified(Client(), staff)

    page = client.post("/admin/sign-in/recovery-codes/", {"next": "/admin/security/"}).content.decode()

    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)
    assert len(codes) == 10
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(codes)
    assert "10 unused recovery codes left" in client.get("/admin/security/").content.decode()


def test_recovery_codes_are_not_made_for_a_session_past_the_password_only(staff):
    _enrolled(staff)
    client = _past_password(staff)

    response = client.post("/admin/sign-in/recovery-codes/")

    assert response.status_code == 302
    assert StaticToken.objects.count() == 2


# --- operators: reset, demo credentials, the admin's device screens


def test_staff_reset_second_factor_removes_every_device_and_the_user_enrols_again(staff):
    _enrolled(staff)
    out = StringIO()

    call_command("staff_reset_second_factor", "ops", stdout=out)

    assert "ops: 2 second-factor devices removed" in out.getvalue()
    assert not TOTPDevice.objects.exists() and not StaticDevice.objects.exists()
    assert _password(Client())["Location"].startswith("/admin/sign-in/enrol/")
    assert "staff.second_factor_reset outcome=succeeded" in audit_text()


def test_staff_reset_second_factor_names_who_ran_it(staff, django_user_model):
    from integrations.kernel.models import AuditEvent

    django_user_model.objects.create_user("boss", password=PASSWORD, is_staff=True)
    _enrolled(staff)

    call_command("staff_reset_second_factor", "ops", "--actor", "boss", stdout=StringIO())

    entry = AuditEvent.objects.get(action="staff.second_factor_reset")
    assert (entry.actor_name, entry.object_id) == ("boss", str(staff.pk))


def test_staff_reset_second_factor_names_an_unknown_user():
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("staff_reset_second_factor", "nobody")


def test_demo_credentials_in_debug_print_a_login_that_works_with_its_second_factor(settings):
    settings.DEBUG = True
    out = StringIO()

    call_command("demo_credentials", stdout=out)

    text = out.getvalue()
    password = re.search(r"admin login : operator / (\S+)", text).group(1)
    assert re.search(r"otpauth://totp/\S+secret=[A-Z2-7]+", text)
    device = TOTPDevice.objects.get(user__username="operator", confirmed=True)
    client = Client()
    assert _password(client, "operator", password)["Location"].startswith("/admin/sign-in/second-step/")
    assert client.post("/admin/sign-in/second-step/", {"code": _code(device)}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_demo_credentials_without_debug_say_how_to_enrol_and_print_no_secret(settings):
    settings.DEBUG = False
    out = StringIO()

    call_command("demo_credentials", stdout=out)

    assert "set up an authenticator app" in out.getvalue()
    assert "otpauth://totp/" not in out.getvalue() and not TOTPDevice.objects.exists()


def test_the_admin_lists_devices_without_their_secrets_and_deletes_one(staff, admin_client):
    device = _enrolled(staff)

    page = admin_client.get("/admin/otp_totp/totpdevice/").content.decode()
    detail = admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    codes = admin_client.get("/admin/otp_static/staticdevice/").content.decode()

    assert "ops" in page and device.key not in page and device.key not in detail
    assert "aaaa2222" not in codes
    admin_client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    from integrations.kernel.models import AuditEvent

    entry = AuditEvent.objects.get(action="staff.device_removed")
    assert (entry.actor_name, entry.object_id, entry.outcome) == ("admin", str(staff.pk), "succeeded")


@pytest.mark.parametrize(("role", "sees"), [("administrator", True), ("support", False), ("finance", False)])
def test_only_administrators_see_the_device_screens(django_user_model, role, sees):
    from django.contrib.auth.models import Group

    call_command("setup_roles", stdout=StringIO())
    user = django_user_model.objects.create_user(f"{role}-1", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = sign_in_verified(Client(), user)

    assert ("/admin/otp_totp/totpdevice/" in client.get("/admin/").content.decode()) is sees
    assert client.get("/admin/django_otp_webauthn/webauthncredential/").status_code == (200 if sees else 403)
