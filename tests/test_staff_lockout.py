"""Staff sign-in lockout (django-axes) and idle sessions: 5 failures for a user or from an address
within 15 minutes lock that user and address for 15 minutes, even with the right password; an
administrator unlocks by deleting the attempts; sessions end after 15 idle minutes."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)


def _sign_in(client, username, password, address="203.0.113.9"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_sixth_sign_in_after_five_failures_is_refused_even_with_the_right_password(staff):
    client = Client()
    failures = [_sign_in(client, "ops", "wrong-password").status_code for _ in range(5)]
    assert failures == [200, 200, 200, 200, 429]  # the form again with an error, then the lock

    locked = _sign_in(client, "ops", PASSWORD)

    assert locked.status_code == 429
    assert b"Sign-in locked" in locked.content
    assert client.get("/admin/").status_code == 302  # not signed in


def test_the_user_is_locked_from_another_address_too(staff):
    for n in range(5):
        _sign_in(Client(), "ops", "wrong-password", address=f"198.51.100.{n}")

    assert _sign_in(Client(), "ops", PASSWORD, address="192.0.2.1").status_code == 429


def test_an_address_is_locked_for_other_users_too(staff, django_user_model):
    django_user_model.objects.create_superuser("other", "other@example.com", PASSWORD)
    for n in range(5):
        _sign_in(Client(), f"guess-{n}", "wrong-password")

    assert _sign_in(Client(), "other", PASSWORD).status_code == 429


def test_an_administrator_unlocks_by_deleting_the_attempts(staff):
    for _ in range(5):
        _sign_in(Client(), "ops", "wrong-password")
    assert _sign_in(Client(), "ops", PASSWORD).status_code == 429

    AccessAttempt.objects.all().delete()  # the admin's delete action on "Access attempts"

    assert _sign_in(Client(), "ops", PASSWORD).status_code == 302


def test_the_admin_lists_access_attempts_for_unlocking(admin_client):
    assert admin_client.get("/admin/axes/accessattempt/").status_code == 200


def test_sessions_end_after_fifteen_idle_minutes_counted_from_the_last_request():
    assert settings.SESSION_COOKIE_AGE == 15 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
