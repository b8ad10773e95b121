"""The marketing team runs a whole campaign in the admin, by role (`manage.py setup_roles`): create
one limited to plans on sale, edit it, generate, export, expire and restore; support may read a
campaign but neither edit nor act on it; finance does not see campaigns at all."""

import pytest
from django.urls import reverse

from conftest import sign_in_verified, staff_in_role
from coupons.models import Coupon
from coupons.selectors import coupon_state, plan_choices
from coupons.services import coupon_create
from plans.services import plan_archive
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:coupons_coupon_add")
LIST = reverse("admin:coupons_coupon_changelist")


def _signed_in(client, django_user_model, role: str):
    return sign_in_verified(client, staff_in_role(role))


def _action(coupon, action: str) -> str:
    return reverse("admin:coupons_coupon_action", args=[coupon.pk, action])


@pytest.fixture
def plans(db):
    on_sale = PlanFactory(code="monthly", name="Monthly")
    retired = PlanFactory(code="old", name="Old plan")
    plan_archive(plan=retired)
    return on_sale, retired


def test_the_campaign_form_offers_the_plans_on_sale_and_keeps_an_archived_one_already_chosen(plans):
    on_sale, retired = plans

    assert plan_choices() == [(on_sale.pk, "Monthly (monthly)")]
    assert plan_choices(selected=[retired.pk]) == [
        (on_sale.pk, "Monthly (monthly)"),
        (retired.pk, "Old plan (old) — archived"),
    ]


def test_marketing_runs_a_whole_bulk_campaign_in_the_admin(client, django_user_model, plans):
    marketing = _signed_in(client, django_user_model, "marketing")
    on_sale, retired = plans
    form = marketing.get(ADD)
    assert on_sale.pk in form.content.decode() and retired.pk not in form.content.decode()

    created = marketing.post(
        ADD,
        {
            "name": "Spring",
            "kind": "bulk",
            "code_template": "SPRING-********",
            "discount_type": "amount",
            "amounts_off": "EUR 2.50, JPY 300",
            "duration": "repeating",
            "duration_cycles": "2",
            "redemption_target": "subscription",
            "applies_to_plans": [on_sale.pk],
            "max_redemptions_per_customer": "1",
            "_save": "Save",
        },
    )
    assert created.status_code == 302, created.context["adminform"].form.errors
    coupon = Coupon.objects.get()
    assert list(coupon.applies_to_plans.values_list("pk", flat=True)) == [on_sale.pk]

    edited = marketing.post(
        reverse("admin:coupons_coupon_change", args=[coupon.pk]),
        {
            "name": "Spring sale",
            "code_template": "SPRING-********",
            "discount_type": "amount",
            "amounts_off": "EUR 2.50, JPY 300",
            "duration": "repeating",
            "duration_cycles": "2",
            "redemption_target": "subscription",
            "applies_to_plans": [on_sale.pk],
            "max_redemptions": "1000",
            "_save": "Save",
        },
    )
    assert edited.status_code == 302, edited.context["adminform"].form.errors
    marketing.post(_action(coupon, "generate_codes"), {"action": "generate_codes", "confirm": "yes", "count": "25"})
    export = marketing.get(_action(coupon, "export_csv"))
    marketing.post(_action(coupon, "expire"), {"action": "expire", "confirm": "yes"})
    expired = Coupon.objects.get()
    marketing.post(_action(coupon, "restore"), {"action": "restore", "confirm": "yes"})

    coupon.refresh_from_db()
    assert (coupon.name, coupon.max_redemptions, coupon.codes.count()) == ("Spring sale", 1000, 25)
    assert len(b"".join(export.streaming_content).decode().splitlines()) == 26  # the header and 25 codes
    assert coupon_state(expired) == "expired" and coupon_state(coupon) == "active"


def test_support_reads_a_campaign_but_cannot_create_edit_or_act_on_it(client, django_user_model):
    coupon = coupon_create(
        name="Poster", kind="single_code", code="POSTER", discount={"type": "percent", "percent_off": "10"}
    )
    support = _signed_in(client, django_user_model, "support")

    page = support.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))
    listing = support.get(LIST).content.decode()

    assert page.status_code == 200 and 'name="name"' not in page.content.decode()
    assert support.get(ADD).status_code == 403
    assert "export_csv" not in listing and "generate_codes" not in listing
    for action in ("expire", "export_csv", "generate_codes"):
        assert support.get(_action(coupon, action)).status_code == 403, action


def test_finance_does_not_see_campaigns(client, django_user_model):
    coupon = coupon_create(
        name="Poster", kind="single_code", code="POSTER", discount={"type": "percent", "percent_off": "10"}
    )
    finance = _signed_in(client, django_user_model, "finance")

    assert finance.get(LIST).status_code == 403
    assert finance.get(_action(coupon, "export_csv")).status_code == 403
