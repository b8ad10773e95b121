"""Staff passwords (PCI DSS 8.3.6): at least 12 characters, not a common one, not entirely numeric,
not like the user's own name, wherever the admin sets one: a new user, an administrator changing
someone's password, a staff member changing their own."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db
TOO_SHORT = "This password is too short. It must contain at least 12 characters."


def _add_user(admin_client, password):
    return admin_client.post(
        "/admin/auth/user/add/",
        {"username": "new-agent", "usable_password": "true", "password1": password, "password2": password},
    )


def test_a_new_user_with_an_eleven_character_password_is_refused(admin_client, django_user_model):
    response = _add_user(admin_client, "Tr0ub4dor&3")

    assert TOO_SHORT in response.content.decode()
    assert not django_user_model.objects.filter(username="new-agent").exists()


def test_a_new_user_with_a_twelve_character_password_is_made(admin_client, django_user_model):
    response = _add_user(admin_client, "Tr0ub4dor&3x")

    assert response.status_code == 302
    assert django_user_model.objects.get(username="new-agent").check_password("Tr0ub4dor&3x")


def test_an_administrator_cannot_set_someone_a_short_password(admin_client, django_user_model):
    agent = django_user_model.objects.create_user("agent", password="a-long-enough-passphrase", is_staff=True)

    response = admin_client.post(
        f"/admin/auth/user/{agent.pk}/password/",
        {"usable_password": "true", "password1": "short-pass1", "password2": "short-pass1"},
    )

    assert TOO_SHORT in response.content.decode()
    agent.refresh_from_db()
    assert agent.check_password("a-long-enough-passphrase")


def test_a_staff_member_cannot_change_their_own_password_to_a_short_one(admin_client, admin_user):
    response = admin_client.post(
        "/admin/password_change/",
        {"old_password": "password", "new_password1": "short-pass1", "new_password2": "short-pass1"},
    )

    assert TOO_SHORT in response.content.decode()


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("123456789012", "This password is entirely numeric."),
        ("password1234", "This password is too common."),
        ("operations-lead1", "The password is too similar to the username."),
    ],
)
def test_long_but_weak_passwords_are_refused(django_user_model, password, message):
    user = django_user_model(username="operations-lead")

    with pytest.raises(ValidationError) as refused:
        validate_password(password, user=user)

    assert message in refused.value.messages
