"""Admin screens follow the staff member's permissions, then their own rules (issue 9's smaller
items): a staff member who may only view can neither rename an API key nor delete a plan, and
staff passwords are at least 12 characters."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from conftest import sign_in_verified
from integrations.kernel.api_keys import api_key_create
from integrations.models import ApiKey
from plans.models import Plan
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", "v@example.com", "a-long-enough-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_apikey", "view_plan", "view_planprice"]))
    sign_in_verified(client, user)
    return client


def test_a_viewer_cannot_rename_an_api_key(viewer):
    _, key = api_key_create(name="crm")

    response = viewer.post(f"/admin/integrations/apikey/{key.pk}/change/", {"name": "renamed"})

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=key.pk).name == "crm"


def test_a_viewer_cannot_delete_a_plan_nobody_uses(viewer):
    plan = PlanFactory()

    response = viewer.post(f"/admin/plans/plan/{plan.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Plan.objects.filter(pk=plan.pk).exists()


@pytest.mark.parametrize("password", ["Sh0rt!pass", "elevenchars"])
def test_staff_passwords_under_twelve_characters_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_twelve_character_password_passes_the_length_rule():
    validate_password("tram-violet-9")


def test_djstripe_mirror_models_are_off_the_admin_index_unless_asked_for(admin_client):
    index = admin_client.get("/admin/").content.decode()

    assert "/admin/djstripe/" not in index and "/admin/plans/" in index
    probe = "import django; django.setup(); from django.contrib import admin; " + (
        "print(sum(m._meta.app_label == 'djstripe' for m in admin.site._registry))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "mediamanager.test_settings", "DJSTRIPE_ADMIN": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert int(shown.stdout.strip()) > 10, shown.stderr[-2000:]


def test_a_new_api_key_is_shown_once_and_never_travels_in_a_cookie(admin_client):
    response = admin_client.post("/admin/integrations/apikey/add/", {"name": "CRM"})
    assert response.status_code == 302
    key = ApiKey.objects.get(name="CRM")

    page = admin_client.get(response["Location"]).content.decode()

    assert "messages" not in response.cookies  # Django's default: a signed cookie anyone can read
    assert "Copy it now" in page and key.prefix in page
    assert "Copy it now" not in admin_client.get(response["Location"]).content.decode()
