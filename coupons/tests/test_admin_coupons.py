"""The coupon admin: the campaign and code lists, the campaign page, and the actions
(each confirmed first, one service call per campaign) and the CSV export."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from conftest import sign_in_verified
from coupons.models import CodeGeneration, Coupon, CouponCode
from coupons.selectors import coupon_state
from coupons.services import coupon_create, coupon_expire
from coupons.services.generation import codes_generate

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:coupons_coupon_changelist"


@pytest.fixture
def admin(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-password")
    sign_in_verified(client, user)
    return client


@pytest.fixture
def bulk():
    coupon = coupon_create(
        name="Spring", kind="bulk", code_template="SPRING-********", discount={"type": "percent", "percent_off": "20"}
    )
    codes_generate(coupon=coupon, count=5)
    return coupon


@pytest.fixture
def single():
    return coupon_create(
        name="Poster",
        kind="single_code",
        code="POSTER",
        discount={"type": "percent", "percent_off": "10"},
        max_redemptions=100,
    )


def _post(admin, action, coupons, **data):
    return admin.post(reverse(CHANGELIST), {"action": action, "_selected_action": [c.pk for c in coupons], **data})


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_campaign_list_shows_redemptions_and_state(admin, bulk, single):
    response = admin.get(reverse(CHANGELIST))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Spring" in body and "Poster" in body
    assert "0 / 100" in body and "0 / ∞" in body
    assert "20% off" in body and "active" in body


def test_searching_a_code_finds_its_campaign(admin, bulk, single):
    code = bulk.codes.first().code
    response = admin.get(reverse(CHANGELIST), {"q": code.lower()})
    assert list(response.context["cl"].result_list) == [bulk]


def test_the_campaign_page_links_to_its_codes(admin, bulk):
    response = admin.get(reverse("admin:coupons_coupon_change", args=[bulk.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert f"?coupon__id__exact={bulk.pk}" in body
    assert "5 code(s)" in body


def test_the_code_list_is_paginated_and_searchable(admin, bulk, single):
    url = reverse("admin:coupons_couponcode_changelist")
    response = admin.get(url, {"coupon__id__exact": bulk.pk})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 5
    response = admin.get(url, {"q": "poster"})
    assert [c.code for c in response.context["cl"].result_list] == ["POSTER"]


def test_expire_asks_first_then_expires(admin, bulk, single):
    response = _post(admin, "expire", [bulk, single])
    assert response.status_code == 200
    assert "Expire campaigns?" in response.content.decode()
    bulk.refresh_from_db()
    assert coupon_state(bulk) == "active"

    response = _post(admin, "expire", [bulk, single], confirm="yes")
    assert response.status_code == 302
    for coupon in (bulk, single):
        coupon.refresh_from_db()
        assert coupon_state(coupon) == "expired"


def test_restore_asks_first_then_restores(admin, bulk):
    coupon_expire(coupon=bulk)
    response = _post(admin, "restore", [bulk])
    assert response.status_code == 200
    assert 'name="redeem_by"' in response.content.decode()
    bulk.refresh_from_db()
    assert coupon_state(bulk) == "expired"

    response = _post(admin, "restore", [bulk], confirm="yes", redeem_by="2099-01-01 00:00")
    assert response.status_code == 302
    bulk.refresh_from_db()
    assert coupon_state(bulk) == "active"
    assert bulk.redeem_by.year == 2099


def test_restore_with_a_past_date_is_reported_not_raised(admin, bulk):
    coupon_expire(coupon=bulk)
    response = _post(admin, "restore", [bulk], confirm="yes", redeem_by="2000-01-01 00:00")
    assert response.status_code == 302
    assert any("must be in the future" in text for text in _messages(response))
    bulk.refresh_from_db()
    assert coupon_state(bulk) == "expired"


def test_generate_asks_for_a_count_then_generates(admin, bulk, single):
    response = _post(admin, "generate_codes", [bulk, single])
    assert response.status_code == 200
    assert 'name="count"' in response.content.decode()
    assert bulk.codes.count() == 5

    response = _post(admin, "generate_codes", [bulk, single], confirm="yes", count="7")
    assert response.status_code == 302
    assert bulk.codes.count() == 12
    assert single.codes.count() == 1
    texts = _messages(response)
    assert any(text.startswith("Generated") for text in texts)
    assert any(text.startswith("Not done") and "Poster" in text for text in texts)


@pytest.mark.parametrize("count", ["0", "1000001", "many"])
def test_generate_with_a_bad_count_shows_an_error(admin, bulk, count):
    response = _post(admin, "generate_codes", [bulk], confirm="yes", count=count)
    assert response.status_code == 200
    assert response.context["form"].errors["count"]
    assert bulk.codes.count() == 5


def test_generating_many_codes_is_queued_and_named_by_its_cgn_id(admin, bulk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(admin, "generate_codes", [bulk], confirm="yes", count="20000")
    assert response.status_code == 302
    generation = CodeGeneration.objects.get(coupon=bulk)
    assert (generation.requested, generation.status) == (20000, "queued")
    assert len(callbacks) == 1  # the task, after commit
    assert any(f"queued as {generation.public_id}" in text for text in _messages(response))


def test_export_streams_a_csv_of_the_codes(admin, bulk, single):
    response = _post(admin, "export_csv", [bulk, single])
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "code,state,redeemed_by,redeemed_at"
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(
        CouponCode.objects.filter(coupon=bulk).values_list("code", flat=True)
    )
    assert Coupon.objects.count() == 2


def test_generating_past_a_millionth_of_the_templates_space_is_refused_with_the_services_reason(
    admin, bulk, monkeypatch
):
    monkeypatch.setattr("coupons.services.generation.code_space", lambda template: 100 * 1_000_000)

    inline = _post(admin, "generate_codes", [bulk], confirm="yes", count="96")
    queued = _post(admin, "generate_codes", [bulk], confirm="yes", count="20000")

    for response in (inline, queued):
        assert response.status_code == 302
        assert any("Not done" in text and "may hold 100 codes at most" in text for text in _messages(response))
    assert CouponCode.objects.filter(coupon=bulk).count() == 5
    assert not CodeGeneration.objects.exists()
