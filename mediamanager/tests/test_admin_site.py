"""The admin index (and its sidebar) grouped by team, each staff member seeing only the groups and
models their role allows; dj-stripe's mirror in a collapsed last group for administrators only."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import path
from djstripe.models import Customer as StripeCustomer

from conftest import sign_in_verified, staff_in_role
from mediamanager.admin_site import BackOfficeSite
from payments.models import Customer

pytestmark = pytest.mark.django_db

TEAM_ORDER = ["Support", "Finance", "Marketing", "Catalogue", "Administration"]


def _groups(response) -> dict[str, list[str]]:
    assert response.status_code == 200
    return {app["name"]: [model["object_name"] for model in app["models"]] for app in response.context["app_list"]}


def _staff(django_user_model, role: str):
    return staff_in_role(role)


def test_the_default_admin_site_is_the_back_office_site():
    assert isinstance(admin.site, BackOfficeSite)  # the lazy default site proxies its class


def test_a_superuser_sees_every_team_in_order_with_its_models(admin_client):
    groups = _groups(admin_client.get("/admin/"))

    assert list(groups) == TEAM_ORDER
    assert groups["Support"][:2] == ["Customer", "Subscription"]
    assert set(groups["Finance"]) >= {"Payment", "Refund", "Invoice", "Payout"}
    assert groups["Marketing"] == ["Coupon", "CouponCode", "CodeGeneration"]
    assert groups["Catalogue"] == ["Plan"]
    assert {"GatewayAccount", "ApiKey", "User", "Group", "Schedule", "AccessAttempt"} <= set(groups["Administration"])
    every_model = [name for names in groups.values() for name in names]
    assert len(every_model) == len(set(every_model))  # each model in one group only


@pytest.mark.parametrize(
    ("role", "groups"),
    [
        ("support", {"Support": {"Customer", "Subscription", "PaymentMethod", "Event", "OutgoingEmail"}, "Finance": {"Payment", "Invoice", "Refund", "CreditNote"}, "Marketing": {"Coupon"}}),
        ("finance", {"Support": {"Customer", "PaymentMethod", "Event"}, "Finance": {"Payment", "Invoice", "CreditNote", "Refund", "Payout", "TaxRegistration", "TaxRate", "InvoiceEvidenceReview", "TaxReport", "ExchangeRate"}, "Administration": {"AuditEvent"}}),
        ("marketing", {"Marketing": {"Coupon", "CouponCode", "CodeGeneration"}, "Catalogue": {"Plan"}}),
        ("catalogue", {"Support": {"Subscription"}, "Catalogue": {"Plan"}}),
        ("administrator", {"Support": {"Event", "OutgoingEmail"}, "Finance": {"ExchangeRate", "Invoice", "CreditNote"}, "Administration": {"GatewayAccount", "ApiKey", "SigningKey", "User", "Group", "Schedule", "Failure", "Success", "OrmQ", "AccessAttempt", "AccessFailureLog", "AuditEvent", "Connector", "ConnectorRecord", "TOTPDevice", "StaticDevice", "WebAuthnCredential", "WebhookEndpoint", "WebhookDelivery", "XeroMapping"}}),
    ],
)  # fmt: skip
def test_a_staff_member_sees_only_the_groups_and_models_of_their_role(django_user_model, client, role, groups):
    sign_in_verified(client, _staff(django_user_model, role))

    response = client.get("/admin/")

    assert {name: set(models) for name, models in _groups(response).items()} == groups
    assert [app["name"] for app in response.context["available_apps"]] == list(groups)  # the sidebar too


def test_a_group_heading_is_not_a_link_but_an_apps_own_page_still_works(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert '<span class="section">Support</span>' in index

    app_page = admin_client.get("/admin/payments/")

    assert app_page.status_code == 200
    assert [app["app_label"] for app in app_page.context["app_list"]] == ["payments"]


def test_a_staff_member_without_any_permission_sees_no_group(django_user_model, client):
    sign_in_verified(
        client, django_user_model.objects.create_user("nobody", password="long-enough-password", is_staff=True)
    )

    response = client.get("/admin/")

    assert response.context["app_list"] == []
    assert "permission to view or edit anything" in response.content.decode()


# --- dj-stripe's mirror (registered only with DJSTRIPE_ADMIN=1: a site of our own here) ------------


MIRROR_SITE = BackOfficeSite(name="mirror-test")
MIRROR_SITE.register(StripeCustomer)
MIRROR_SITE.register(Customer)
urlpatterns = [path("mirror/", MIRROR_SITE.urls)]  # the URL conf of the tests below


def _mirror_site_app_list(user) -> list[dict]:
    request = RequestFactory().get("/mirror/")
    request.user = user
    return MIRROR_SITE.get_app_list(request)


@pytest.mark.urls(__name__)
def test_the_stripe_mirror_is_a_collapsed_last_group_for_an_administrator(django_user_model):
    user = _staff(django_user_model, "administrator")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_customer"]))

    app_list = _mirror_site_app_list(django_user_model.objects.get(pk=user.pk))

    # The administrator's own screens (the Xero mapping) come between; the mirror is last.
    assert [app["name"] for app in app_list] == ["Support", "Administration", "Stripe mirror (dj-stripe)"]
    assert app_list[-1]["collapsed"] is True
    assert [model["model"] for model in app_list[-1]["models"]] == [StripeCustomer]


@pytest.mark.urls(__name__)
def test_the_stripe_mirror_is_hidden_from_anyone_but_an_administrator(django_user_model):
    user = _staff(django_user_model, "support")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="djstripe", codename="view_customer"))

    app_list = _mirror_site_app_list(django_user_model.objects.get(pk=user.pk))

    assert [app["name"] for app in app_list] == ["Support"]


def test_the_stripe_mirror_is_off_the_default_site_unless_djstripe_admin_is_on(admin_client):
    groups = _groups(admin_client.get("/admin/"))

    assert "Stripe mirror (dj-stripe)" not in groups
    assert not any(model._meta.app_label == "djstripe" for model in admin.site._registry)
