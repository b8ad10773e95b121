"""Staff sign-in in a real headless Chromium against the live server (http://localhost: a secure
context, so passkeys work): enrolling an authenticator app from the otpauth:// URI on the page,
then signing in with password and code; adding a passkey through Chromium's virtual authenticator
and signing in with it; the lockout page after 5 wrong passwords, even with the right one."""

import re
from base64 import b32decode

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from tests import test_browser_hosted_pages as hosted_pages

browser = hosted_pages.browser  # the same headless Chromium fixture
pytestmark = [
    pytest.mark.skipif(
        not (hosted_pages.CHROMIUM and hosted_pages.CHROMEDRIVER),
        reason="Chromium and chromedriver are not installed (.ci/run installs them)",
    ),
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "correct-horse-battery-staple"
WAIT = 20


@pytest.fixture
def site(live_server, settings):
    """The live server is SITE_URL for the passkeys (relying party localhost, its origin allowed);
    plain http, so the cookies may not ask for https."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    assert live_server.url.startswith("http://localhost:")
    return live_server.url


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("ops", "ops@example.com", PASSWORD, is_staff=True, is_superuser=True)


def _wait(browser):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT)


def _code(key: bytes) -> str:
    """What the authenticator app shows now."""
    return f"{TOTP(key).token():06d}"


def _next_code(key: bytes, device: TOTPDevice) -> str:
    """A code the device takes now that its last one was used: the step after the last accepted, within
    its window. The device follows drift (OTP_TOTP_SYNC): an enrolment code checked just after a 30 s
    boundary moves the window back a step, so "the next step by the clock" may fall outside it."""
    device.refresh_from_db()
    totp = TOTP(key, drift=device.drift)
    step = max(totp.t(), device.last_t + 1)
    totp.time = totp.time + (step - totp.t()) * 30
    return f"{totp.token():06d}"


def _sign_in_with_password(browser, site, password=PASSWORD):
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/admin/")
    _wait(browser).until(lambda b: b.find_elements(By.ID, "id_username"))
    browser.find_element(By.ID, "id_username").send_keys("ops")
    browser.find_element(By.ID, "id_password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()


def _enter_code(browser, code: str):
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, "id_code")
    field.clear()
    field.send_keys(code)
    field.submit()


def _on_the_index(browser) -> bool:
    return browser.current_url.endswith("/admin/") and "Billing back office" in browser.page_source


def _sign_out(browser):
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, "#logout-form button").click()
    _wait(browser).until(lambda b: "Logged out" in b.page_source)


def test_enrol_an_authenticator_app_from_the_uri_sign_out_and_sign_in_with_password_and_code(site, browser, staff):
    from selenium.webdriver.common.by import By

    _sign_in_with_password(browser, site)
    _wait(browser).until(lambda b: "/admin/sign-in/enrol/" in b.current_url)
    assert browser.find_elements(By.CSS_SELECTOR, ".staff-security-qr svg")
    uri = browser.find_element(By.ID, "otpauth-uri").text
    assert uri.startswith("otpauth://totp/Media%20Manager%20Payments%3Aops?secret=")
    key = b32decode(re.search(r"secret=([A-Z2-7]+)", uri).group(1))

    _enter_code(browser, "000000" if _code(key) != "000000" else "111111")
    _wait(browser).until(lambda b: "That code is not right" in b.page_source)
    TOTPDevice.objects.filter(user=staff).update(throttling_failure_count=0)  # no waiting out the slow-down
    _enter_code(browser, _code(key))
    _wait(browser).until(lambda b: b.find_elements(By.ID, "recovery-codes"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10
    browser.find_element(By.ID, "continue").click()
    _wait(browser).until(_on_the_index)
    _sign_out(browser)

    _sign_in_with_password(browser, site)
    _wait(browser).until(lambda b: "/admin/sign-in/second-step/" in b.current_url)
    _enter_code(browser, _next_code(key, TOTPDevice.objects.get(user=staff)))
    _wait(browser).until(_on_the_index)
    assert browser.find_element(By.CSS_SELECTOR, "#user-tools a[href='/admin/security/']")


def _add_virtual_authenticator(browser):
    """Chromium's virtual authenticator: a platform passkey (fingerprint, face) that always agrees."""
    from selenium.webdriver.common.virtual_authenticator import Protocol, Transport, VirtualAuthenticatorOptions

    browser.add_virtual_authenticator(
        VirtualAuthenticatorOptions(
            protocol=Protocol.CTAP2,
            transport=Transport.INTERNAL,
            has_resident_key=True,
            has_user_verification=True,
            is_user_verified=True,
        )
    )


def test_add_a_passkey_on_the_security_page_then_sign_in_with_it(site, browser, staff):
    from selenium.webdriver.common.by import By

    _add_virtual_authenticator(browser)
    app = TOTPDevice.objects.create(user=staff, name="Authenticator app", confirmed=True)
    _sign_in_with_password(browser, site)
    _wait(browser).until(lambda b: "/admin/sign-in/second-step/" in b.current_url)
    assert not browser.find_elements(By.ID, "passkey-verification-button")  # none registered yet
    _enter_code(browser, _code(app.bin_key))
    _wait(browser).until(_on_the_index)

    browser.find_element(By.CSS_SELECTOR, "#user-tools a[href='/admin/security/']").click()
    _wait(browser).until(lambda b: b.find_elements(By.ID, "passkey-register-button"))
    browser.find_element(By.ID, "passkey-register-button").click()
    _wait(browser).until(lambda b: "Passkey 1" in b.page_source)  # the page reloads with it listed
    assert WebAuthnCredential.objects.filter(user=staff, confirmed=True).count() == 1
    _sign_out(browser)

    _sign_in_with_password(browser, site)
    _wait(browser).until(lambda b: b.find_elements(By.ID, "passkey-verification-button"))
    browser.find_element(By.ID, "passkey-verification-button").click()
    _wait(browser).until(_on_the_index)
    assert WebAuthnCredential.objects.get(user=staff).last_used_at is not None


def test_enrol_with_a_passkey_instead_of_an_app_and_get_the_recovery_codes(site, browser, staff):
    from selenium.webdriver.common.by import By

    _add_virtual_authenticator(browser)
    _sign_in_with_password(browser, site)
    _wait(browser).until(lambda b: b.find_elements(By.ID, "passkey-register-button"))

    browser.find_element(By.ID, "passkey-register-button").click()

    _wait(browser).until(lambda b: b.find_elements(By.ID, "recovery-codes"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10
    assert WebAuthnCredential.objects.filter(user=staff, confirmed=True).count() == 1
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    browser.find_element(By.ID, "continue").click()
    _wait(browser).until(_on_the_index)


def test_five_wrong_passwords_lock_the_sign_in_even_with_the_right_password(site, browser, staff):
    from selenium.webdriver.common.by import By

    for _ in range(4):
        _sign_in_with_password(browser, site, password="wrong-password-123")
        _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".errornote"))
    _sign_in_with_password(browser, site, password="wrong-password-123")
    _wait(browser).until(lambda b: "Sign-in locked" in b.page_source)

    _sign_in_with_password(browser, site)

    _wait(browser).until(lambda b: "Sign-in locked" in b.page_source)
    browser.get(f"{site}/admin/")
    _wait(browser).until(lambda b: b.find_elements(By.ID, "id_username"))  # still not signed in
