"""Fixtures shared by every app's tests: API clients for an operator and for a customer; an admin
client past the second factor; an empty cache."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from integrations.kernel.api_keys import api_key_create


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run `make test`)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: throttles and failed-attempt counters (all test
    clients share one address) do not carry from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def sign_in_verified(client, user):
    """Sign `user` in on the test `client` as staff who passed the second factor, through django-otp's
    own API: a real confirmed authenticator app (TOTP device) and `django_otp.login` on the session,
    as the second-step page does. Every admin page needs it (mediamanager/admin_site.py)."""
    import django_otp
    from django.http import HttpRequest
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client.force_login(user)
    request = HttpRequest()
    request.session = client.session
    request.user = user
    django_otp.login(request, device)
    request.session.save()
    return client


@pytest.fixture
def admin_client(db, admin_user):
    """pytest-django's `admin_client`, past the second factor."""
    from django.test import Client

    return sign_in_verified(Client(), admin_user)


@pytest.fixture
def api_key(db):
    raw, _ = api_key_create(name="tests")
    return raw


@pytest.fixture
def operator_client(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def anon_client():
    return APIClient()


def client_for_customer(customer) -> APIClient:
    from payments.services import customer_token_create

    raw, _ = customer_token_create(customer=customer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def customer(db):
    from payments.tests.factories import CustomerFactory

    return CustomerFactory()


@pytest.fixture
def customer_client(customer):
    return client_for_customer(customer)


def audit_text() -> str:
    """The audit log as text, one line per entry (action, outcome, reason, then everything else it
    holds), for tests that check what was recorded and that no code or secret was."""
    import json

    from integrations.kernel.models import AuditEvent

    lines = []
    for event in AuditEvent.objects.order_by("at", "id"):
        reason = (event.changes.get("reason") or [None, "-"])[1]
        rest = json.dumps([event.changes, event.actor_id, event.actor_name, event.object_id, event.user_agent])
        lines.append(f"{event.action} outcome={event.outcome} reason={reason} {rest}")
    return "\n".join(lines)


def staff_in_role(role: str):
    """A staff member in one of the back office's roles (mediamanager/roles.py), the groups made first."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    call_command("setup_roles", verbosity=0)
    user = get_user_model().objects.create_user(f"{role}-user", password="long-enough-password", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user
