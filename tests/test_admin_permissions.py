"""Admin screens follow the staff member's permissions, then their own rules (issue 9's smaller
items): a staff member who may only view can neither rename an API key nor delete a plan, and
staff passwords are at least 12 characters."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from integrations.kernel.api_keys import api_key_create
from integrations.models import ApiKey
from plans.models import Plan
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", "v@example.com", "a-long-enough-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_apikey", "view_plan", "view_planprice"]))
    client.force_login(user)
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
