"""Campaigns created and edited in the admin: the form calls the API's services (coupon_create,
coupon_update), so a refusal is a form error on the field at fault with nothing written; the
terms lock once redeemed; someone who may only view gets a read-only page. And a campaign's own
page runs the list's actions on it (generate, export, expire, restore)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from moneyed import Money

from conftest import sign_in_verified
from coupons.forms import amounts_off_parse
from coupons.models import Coupon, CouponCode
from coupons.selectors import coupon_state
from coupons.services import coupon_create, coupon_expire, coupon_redeem
from coupons.services.generation import codes_generate
from integrations.models import Event
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:coupons_coupon_add")


def _change(coupon) -> str:
    return reverse("admin:coupons_coupon_change", args=[coupon.pk])


def _action(coupon, action: str) -> str:
    return reverse("admin:coupons_coupon_action", args=[coupon.pk, action])


@pytest.fixture
def admin(client, django_user_model):
    sign_in_verified(
        client, django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-password")
    )
    return client


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="long-enough-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_coupon", "view_couponcode"]))
    sign_in_verified(client, user)
    return client


def _single(**overrides) -> dict:
    """What the add form posts for a single-code, 25% off campaign."""
    return {
        "name": "Quarter off",
        "description": "",
        "kind": "single_code",
        "code": "spring25",
        "code_template": "",
        "discount_type": "percent",
        "percent_off": "25",
        "amounts_off": "",
        "trial_length": "",
        "trial_unit": "",
        "duration": "once",
        "duration_cycles": "",
        "redemption_target": "subscription",
        "max_redemptions": "",
        "max_redemptions_per_customer": "1",
        "redeem_by_0": "",
        "redeem_by_1": "",
        "_save": "Save",
        **overrides,
    }


def _bulk(**overrides) -> dict:
    return _single(kind="bulk", code="", code_template="spring-********", **overrides)


def _errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    return {field: " ".join(messages) for field, messages in form.errors.items()}


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Adding ---------------------------------------------------------------------------------------


def test_the_add_page_offers_every_kind_discount_duration_and_target(admin):
    response = admin.get(ADD)

    assert response.status_code == 200
    html = response.content.decode()
    for value in ("single_code", "bulk", "percent", "amount", "free_trial", "once", "repeating", "forever"):
        assert f'value="{value}"' in html, value
    assert 'name="amounts_off"' in html and "EUR 5.00, USD 6.00" in html
    assert 'name="applies_to_plans"' in html and 'name="redeem_by_0"' in html
    assert "coupons/campaign_form.js" in html


def test_a_single_code_percent_campaign_is_created_through_the_service(admin):
    response = admin.post(ADD, _single(max_redemptions="100", redeem_by_0="2099-06-30", redeem_by_1="23:59:00"))

    assert response.status_code == 302, _errors(response)
    coupon = Coupon.objects.get()
    assert (coupon.name, coupon.kind, coupon.discount_type, coupon.percent_off) == (
        "Quarter off",
        "single_code",
        "percent",
        Decimal("25"),
    )
    assert list(coupon.codes.values_list("code", "shared")) == [("SPRING25", True)]
    assert (coupon.max_redemptions, coupon.redeem_by.isoformat()) == (100, "2099-06-30T23:59:00+00:00")
    assert Event.objects.filter(type="coupon.created").count() == 1
    assert any("was added successfully" in text for text in _messages(response))


def test_a_bulk_campaign_with_amounts_per_currency_is_created_with_its_template(admin):
    response = admin.post(
        ADD,
        _bulk(discount_type="amount", percent_off="", amounts_off="EUR 5.00, usd 6; 700 JPY", duration="forever"),
    )

    assert response.status_code == 302, _errors(response)
    coupon = Coupon.objects.get()
    assert (coupon.kind, coupon.code_template, coupon.duration) == ("bulk", "SPRING-********", "forever")
    assert sorted((row.amount for row in coupon.amounts.all()), key=lambda money: money.currency.code) == [
        Money("5.00", "EUR"),
        Money("700", "JPY"),
        Money("6.00", "USD"),
    ]
    assert not coupon.codes.exists()  # bulk codes are generated afterwards


def test_a_free_trial_campaign_applies_once_whatever_duration_was_chosen(admin):
    response = admin.post(
        ADD,
        _single(discount_type="free_trial", percent_off="", trial_length="14", trial_unit="day", duration="forever"),
    )

    assert response.status_code == 302, _errors(response)
    coupon = Coupon.objects.get()
    assert (coupon.discount_type, coupon.trial_length, coupon.trial_unit, coupon.duration) == (
        "free_trial",
        14,
        "day",
        "once",
    )


def test_a_repeating_account_campaign_keeps_its_cycles_target_and_limits(admin):
    response = admin.post(
        ADD,
        _single(
            duration="repeating",
            duration_cycles="3",
            redemption_target="account",
            max_redemptions="500",
            max_redemptions_per_customer="2",
        ),
    )

    assert response.status_code == 302, _errors(response)
    coupon = Coupon.objects.get()
    assert (coupon.duration, coupon.duration_cycles, coupon.redemption_target) == ("repeating", 3, "account")
    assert (coupon.max_redemptions, coupon.max_redemptions_per_customer) == (500, 2)


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"percent_off": "150"}, "percent_off", "above 0 and at most 100"),
        ({"percent_off": ""}, "percent_off", "above 0 and at most 100"),
        ({"discount_type": "amount", "amounts_off": "EUR 5.001"}, "amounts_off", "EUR 5.001: EUR amounts have 2 decimal places"),
        ({"discount_type": "amount", "amounts_off": "EUR 5, eur 6"}, "amounts_off", "EUR 6: Two amounts in EUR"),
        ({"discount_type": "amount", "amounts_off": "EUR 5, five euros"}, "amounts_off", "'five euros' is not a currency and an amount"),
        ({"discount_type": "amount", "amounts_off": "XYZ 5"}, "amounts_off", "XYZ 5: 'XYZ' is not an ISO 4217 currency"),
        ({"discount_type": "amount", "amounts_off": "EUR 0"}, "amounts_off", "must be positive"),
        ({"discount_type": "amount", "amounts_off": ""}, "amounts_off", "needs one amount per currency"),
        ({"discount_type": "free_trial", "trial_unit": "day"}, "trial_length", "whole number from 1"),
        ({"discount_type": "free_trial", "trial_length": "7"}, "trial_unit", "day, week or month"),
        ({"duration": "repeating"}, "duration_cycles", "needs duration_cycles"),
        ({"code": "a"}, "code", "3-64 letters"),
        ({"code": ""}, "code", "3-64 letters"),
        ({"kind": "bulk", "code_template": "SPRING-***"}, "code_template", "at least 8 '*'"),
        ({"max_redemptions": "99999999999"}, "max_redemptions", "max_redemptions"),
        ({"name": "   "}, "name", "required"),
    ],
)  # fmt: skip
def test_a_refused_campaign_shows_the_services_reason_on_its_field_and_writes_nothing(admin, overrides, field, says):
    response = admin.post(ADD, _single(**overrides))

    errors = _errors(response)
    assert says in errors.get(field, ""), errors
    assert not Coupon.objects.exists()
    assert not CouponCode.objects.exists() and not Event.objects.exists()


def test_a_code_another_campaign_holds_is_refused_on_the_code_field(admin):
    coupon_create(name="Old", kind="single_code", code="SPRING25", discount={"type": "percent", "percent_off": "5"})

    errors = _errors(admin.post(ADD, _single(code="Spring25")))

    assert "The code SPRING25 is taken" in errors["code"]
    assert Coupon.objects.count() == 1


def test_the_amounts_field_reads_a_currency_and_an_amount_in_either_order():
    assert amounts_off_parse("EUR 5.00, 6 usd\n700 JPY;") == [
        {"currency": "EUR", "amount": "5.00"},
        {"currency": "USD", "amount": "6"},
        {"currency": "JPY", "amount": "700"},
    ]


# --- Editing --------------------------------------------------------------------------------------


@pytest.fixture
def quarter_off():
    return coupon_create(
        name="Quarter off",
        kind="single_code",
        code="SPRING25",
        discount={"type": "percent", "percent_off": "25"},
        redemption_target="account",
    )


def _edit(coupon, **overrides) -> dict:
    """What the change form posts for `coupon` as it is, with these changes."""
    data = _single(**{"redemption_target": coupon.redemption_target, **overrides})
    for add_only in ("kind", "code", "max_redemptions_per_customer"):
        data.pop(add_only)
    return data


def test_the_change_page_shows_the_campaign_in_its_form_with_the_actions(admin, quarter_off):
    response = admin.get(_change(quarter_off))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert (form.initial["name"], form.initial["percent_off"], form.initial["discount_type"]) == (
        "Quarter off",
        "25",
        "percent",
    )
    assert "kind" not in form.fields and "code" not in form.fields  # a campaign's kind and code never change
    html = response.content.decode()
    assert "SPRING25" in html and _action(quarter_off, "expire") in html
    assert _action(quarter_off, "generate_codes") not in html  # single code: nothing to generate


def test_editing_a_campaign_changes_what_was_changed_through_the_service(admin, quarter_off):
    response = admin.post(_change(quarter_off), _edit(quarter_off, name="A third off", percent_off="33.3"))

    assert response.status_code == 302, _errors(response)
    quarter_off.refresh_from_db()
    assert (quarter_off.name, quarter_off.percent_off) == ("A third off", Decimal("33.3"))
    assert Event.objects.filter(type="coupon.updated").count() == 1


def test_switching_an_amount_campaign_to_a_free_trial_makes_it_once(admin):
    coupon = coupon_create(
        name="Five off",
        kind="single_code",
        code="FIVE",
        discount={"type": "amount", "amounts_off": [{"amount": "5", "currency": "EUR"}]},
        duration="forever",
    )
    page = admin.get(_change(coupon))
    assert page.context["adminform"].form.initial["amounts_off"] == "EUR 5.00"

    response = admin.post(
        _change(coupon),
        _edit(coupon, discount_type="free_trial", trial_length="1", trial_unit="month", duration="forever"),
    )

    assert response.status_code == 302, _errors(response)
    coupon.refresh_from_db()
    assert (coupon.discount_type, coupon.duration, coupon.amounts.count()) == ("free_trial", "once", 0)


def test_saving_an_unchanged_campaign_writes_no_event(admin, quarter_off):
    response = admin.post(_change(quarter_off), _edit(quarter_off))

    assert response.status_code == 302, _errors(response)
    assert not Event.objects.filter(type="coupon.updated").exists()


def test_a_redeemed_campaigns_terms_are_locked_on_the_page_but_its_name_and_limits_still_change(admin, quarter_off):
    coupon_redeem(code="SPRING25", customer=CustomerFactory(), target="account")
    form = admin.get(_change(quarter_off)).context["adminform"].form
    assert all(form.fields[name].disabled for name in ("discount_type", "percent_off", "duration"))

    response = admin.post(
        _change(quarter_off), _edit(quarter_off, name="Renamed", percent_off="90", max_redemptions="9")
    )

    assert response.status_code == 302, _errors(response)
    quarter_off.refresh_from_db()
    assert (quarter_off.name, quarter_off.percent_off, quarter_off.max_redemptions) == ("Renamed", Decimal("25"), 9)


def test_a_limit_below_the_redemptions_made_is_refused_on_its_field(admin, quarter_off):
    for _ in range(2):
        coupon_redeem(code="SPRING25", customer=CustomerFactory(), target="account")

    errors = _errors(admin.post(_change(quarter_off), _edit(quarter_off, max_redemptions="1")))

    assert "cannot go below the 2 redemptions" in errors["max_redemptions"]
    quarter_off.refresh_from_db()
    assert quarter_off.max_redemptions is None


def test_a_bulk_campaigns_template_can_change_for_the_codes_made_from_then_on(admin):
    coupon = coupon_create(
        name="Spring", kind="bulk", code_template="SPRING-********", discount={"type": "percent", "percent_off": "10"}
    )

    bad = _errors(admin.post(_change(coupon), _edit(coupon, code="", code_template="SUMMER-**")))
    response = admin.post(_change(coupon), _edit(coupon, code="", code_template="summer-********", percent_off="10"))

    assert "at least 8" in bad["code_template"]
    assert response.status_code == 302, _errors(response)
    coupon.refresh_from_db()
    assert coupon.code_template == "SUMMER-********"


# --- Who may ------------------------------------------------------------------------------------


def test_someone_who_may_only_view_gets_a_read_only_page_and_cannot_add_edit_or_act(viewer, quarter_off):
    page = viewer.get(_change(quarter_off))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="name"' not in html and "Quarter off" in html and "25% off" in html
    assert "campaign-action" not in html
    assert viewer.get(ADD).status_code == 403
    assert viewer.post(_change(quarter_off), _edit(quarter_off, name="Hacked")).status_code == 403
    assert viewer.get(_action(quarter_off, "expire")).status_code == 403
    listing = viewer.get(reverse("admin:coupons_coupon_changelist")).content.decode()
    assert "export_csv" not in listing and "expire" not in listing
    quarter_off.refresh_from_db()
    assert quarter_off.name == "Quarter off"


def test_a_campaign_is_never_deleted_from_the_admin(admin, quarter_off):
    response = admin.post(reverse("admin:coupons_coupon_delete", args=[quarter_off.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Coupon.objects.filter(pk=quarter_off.pk).exists()


# --- A campaign's own page runs the list's actions on it -----------------------------------------


@pytest.fixture
def spring():
    coupon = coupon_create(
        name="Spring", kind="bulk", code_template="SPRING-********", discount={"type": "percent", "percent_off": "20"}
    )
    codes_generate(coupon=coupon, count=3)
    return coupon


def test_generate_from_the_campaign_page_asks_for_a_count_then_generates_and_comes_back(admin, spring):
    page = admin.get(_change(spring)).content.decode()
    assert _action(spring, "generate_codes") in page and _action(spring, "export_csv") in page

    asked = admin.get(_action(spring, "generate_codes"))
    assert asked.status_code == 200
    assert 'name="count"' in asked.content.decode()
    assert f'href="{_change(spring)}"' in asked.content.decode()  # "take me back" is the campaign

    done = admin.post(_action(spring, "generate_codes"), {"action": "generate_codes", "confirm": "yes", "count": "7"})

    assert (done.status_code, done["Location"]) == (302, _change(spring))
    assert spring.codes.count() == 10
    assert any(text.startswith("Generated: Spring (7 code(s))") for text in _messages(done))


def test_a_bad_count_from_the_campaign_page_asks_again(admin, spring):
    response = admin.post(
        _action(spring, "generate_codes"), {"action": "generate_codes", "confirm": "yes", "count": "0"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["count"]
    assert spring.codes.count() == 3


def test_export_from_the_campaign_page_streams_its_codes(admin, spring):
    response = admin.get(_action(spring, "export_csv"))

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "code,state,redeemed_by,redeemed_at"
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(spring.codes.values_list("code", flat=True))


def test_expire_then_restore_from_the_campaign_page(admin, spring):
    assert admin.get(_action(spring, "expire")).status_code == 200  # the confirmation, nothing done yet
    spring.refresh_from_db()
    assert coupon_state(spring) == "active"

    admin.post(_action(spring, "expire"), {"action": "expire", "confirm": "yes"})
    spring.refresh_from_db()
    assert coupon_state(spring) == "expired"
    page = admin.get(_change(spring)).content.decode()
    assert _action(spring, "restore") in page and _action(spring, "expire") not in page

    admin.post(_action(spring, "restore"), {"action": "restore", "confirm": "yes", "redeem_by": ""})
    spring.refresh_from_db()
    assert coupon_state(spring) == "active"


def test_an_unknown_action_or_campaign_from_the_page_is_refused(admin, spring):
    assert admin.get(_action(spring, "delete_selected")).status_code == 403
    assert admin.get(reverse("admin:coupons_coupon_action", args=["cpn_nope", "expire"])).status_code == 302
    coupon_expire(coupon=spring)  # nothing else happened to it
    assert spring.codes.count() == 3
