"""Bulk codes cannot be guessed, over HTTP: a template has at least 8 random positions (at creation
and when edited), and codes are generated only while one random guess in a million would miss
(the template's space at most a millionth full, with every campaign on the template and what queued
generations will add)."""

import pytest

from coupons.models import CodeGeneration, CouponCode
from coupons.services import generation
from tests.coupon_helpers import create, created, error

pytestmark = pytest.mark.django_db


def bulk(operator_client, template="SPRING-********", name="Spring") -> dict:
    return created(operator_client, name=name, kind="bulk", code=None, code_template=template)


def generate(operator_client, coupon: dict, count: int):
    return operator_client.post(f"/api/v1/coupons/{coupon['id']}/codes", {"count": count}, format="json")


@pytest.fixture
def room_for_a_hundred(monkeypatch):
    """Every template's space holds 100 codes at a millionth full."""
    monkeypatch.setattr(generation, "code_space", lambda template: 100 * 1_000_000)


@pytest.mark.parametrize("template", ["SPRING-*******", "A-****-B-***", "******"])
def test_a_template_with_fewer_than_eight_random_positions_is_refused(operator_client, template):
    body = error(create(operator_client, kind="bulk", code=None, code_template=template), 400)

    assert (body["code"], body["param"]) == ("parameter_invalid", "code_template")
    assert "at least 8 '*' random positions" in body["message"]
    assert f"(it has {template.count('*')})" in body["message"]


@pytest.mark.parametrize("template", ["SPRING-********", "A-****-B-****", "x_**********"])
def test_a_template_with_eight_random_positions_or_more_is_taken(operator_client, template):
    assert bulk(operator_client, template)["code_template"] == template.upper()


def test_a_template_with_other_characters_is_refused_as_such(operator_client):
    body = error(create(operator_client, kind="bulk", code=None, code_template="SPRING ********"), 400)

    assert (body["code"], body["param"]) == ("parameter_invalid", "code_template")
    assert "letters, digits" in body["message"]


def test_a_bulk_campaigns_template_is_edited_by_the_same_rule(operator_client):
    coupon = bulk(operator_client)

    refused = operator_client.patch(
        f"/api/v1/coupons/{coupon['id']}", {"code_template": "AUTUMN-******"}, format="json"
    )
    assert (error(refused, 400)["code"], error(refused, 400)["param"]) == ("parameter_invalid", "code_template")
    changed = operator_client.patch(
        f"/api/v1/coupons/{coupon['id']}", {"code_template": "autumn-*********"}, format="json"
    )

    assert changed.status_code == 200, changed.content
    assert changed.json()["code_template"] == "AUTUMN-*********"
    assert generate(operator_client, coupon, 5).status_code == 201
    assert all(
        code.startswith("AUTUMN-") and len(code) == 16 for code in CouponCode.objects.values_list("code", flat=True)
    )


def test_a_single_code_campaign_takes_no_template(operator_client):
    coupon = created(operator_client)

    response = operator_client.patch(f"/api/v1/coupons/{coupon['id']}", {"code_template": "X-********"}, format="json")

    assert error(response, 400)["param"] == "code_template"


def test_generation_past_a_millionth_of_the_space_answers_422_in_the_error_format(operator_client, room_for_a_hundred):
    coupon = bulk(operator_client)
    assert generate(operator_client, coupon, 60).status_code == 201

    body = error(generate(operator_client, coupon, 41), 422)

    assert body == {
        "type": "invalid_request_error",
        "code": "code_template_exhausted",
        "message": body["message"],
        "param": "count",
    }
    assert "SPRING-******** may hold 100 codes at most" in body["message"]
    assert "40 more at most" in body["message"]
    assert generate(operator_client, coupon, 40).status_code == 201
    assert CouponCode.objects.count() == 100


def test_campaigns_on_one_template_share_its_space(operator_client, room_for_a_hundred):
    first, second = bulk(operator_client, name="First"), bulk(operator_client, name="Second")
    assert generate(operator_client, first, 70).status_code == 201

    assert error(generate(operator_client, second, 31), 422)["code"] == "code_template_exhausted"
    assert generate(operator_client, bulk(operator_client, "OTHER-********"), 31).status_code == 201


def test_queued_generations_count_before_they_have_written_anything(
    operator_client, room_for_a_hundred, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(generation, "QUEUE_ABOVE", 10)
    coupon = bulk(operator_client)
    with django_capture_on_commit_callbacks(execute=False):  # queued, not run
        assert generate(operator_client, coupon, 80).status_code == 202

        assert error(generate(operator_client, coupon, 21), 422)["code"] == "code_template_exhausted"
        assert generate(operator_client, coupon, 20).status_code == 202
    assert CodeGeneration.objects.filter(status="queued").count() == 2


def test_a_real_eight_position_template_holds_852891_codes():
    assert generation.code_space_capacity("SPRING-********") == 31**8 // 1_000_000 == 852_891
    assert generation.code_space_capacity("SPRING-*********") == 26_439_622
