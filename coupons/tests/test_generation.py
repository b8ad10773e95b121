"""Bulk code generation: codes shaped by the template from the unambiguous alphabet, unique across
campaigns whatever the case, exact counts despite collisions; the command, the API routes and the
CSV export."""

import csv
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from coupons.models import CodeGeneration, CouponCode
from coupons.services import CODE_ALPHABET, coupon_create, coupon_redeem, generation
from coupons.services.generation import codes_draw, codes_export_rows, codes_generate
from integrations.kernel.errors import InvalidRequest, Unprocessable
from integrations.kernel.ids import new_id
from integrations.models import Event
from payments.tests.factories import CustomerFactory

LOOK_ALIKES = set("0O1IL")
SPRING = re.compile(r"^SPRING-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}$")


def _bulk(template: str = "SPRING-********", name: str = "Spring"):
    return coupon_create(
        name=name, kind="bulk", code_template=template, discount={"type": "percent", "percent_off": "20"}
    )


@pytest.fixture
def bulk(db):
    return _bulk()


def _codes(coupon) -> list[str]:
    return list(CouponCode.objects.filter(coupon=coupon).values_list("code", flat=True))


def _error(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code, response.json()


# --- The service --------------------------------------------------------------------------------


def test_generated_codes_follow_the_template_with_random_letters_from_the_unambiguous_alphabet(bulk):
    assert codes_generate(coupon=bulk, count=2000) == 2000

    codes = _codes(bulk)
    assert len(codes) == 2000
    assert all(SPRING.match(code) for code in codes)
    random_parts = "".join(code[len("SPRING-") :] for code in codes)
    assert not LOOK_ALIKES & set(random_parts)
    # 16,000 draws from 31 letters: every letter turns up (a stuck or biased draw would not).
    assert set(random_parts) == set(CODE_ALPHABET)


def test_codes_are_unique(bulk):
    codes_generate(coupon=bulk, count=3000)

    codes = _codes(bulk)
    assert len(set(codes)) == len(codes) == 3000


def test_a_template_with_several_random_runs_keeps_its_fixed_characters(db):
    coupon = _bulk(template="A-****-B-****")

    codes_generate(coupon=coupon, count=200)

    assert all(re.fullmatch(rf"A-[{CODE_ALPHABET}]{{4}}-B-[{CODE_ALPHABET}]{{4}}", c) for c in _codes(coupon))


def test_drawn_codes_are_the_shape_code_from_template_gives():
    codes = codes_draw(template="X_********_Y", n=1000)

    assert len(codes) == 1000
    assert all(re.fullmatch(rf"X_[{CODE_ALPHABET}]{{8}}_Y", code) for code in codes)


def test_generated_code_ids_have_the_shape_of_new_id(bulk):
    codes_generate(coupon=bulk, count=50)

    reference = new_id("code")
    ids = list(CouponCode.objects.filter(coupon=bulk).values_list("id", flat=True))
    assert all(len(i) == len(reference) and re.fullmatch(r"code_[0-9a-hjkmnp-tv-z]{26}", i) for i in ids)
    assert len(set(ids)) == 50


def test_a_second_generation_adds_exactly_its_count(bulk):
    codes_generate(coupon=bulk, count=300)
    codes_generate(coupon=bulk, count=200)

    assert CouponCode.objects.filter(coupon=bulk).count() == 500


def test_collisions_are_redrawn_until_exactly_count_new_codes_exist(bulk, monkeypatch):
    codes_generate(coupon=bulk, count=10)
    taken = _codes(bulk)
    real_draw = generation.codes_draw
    draws = []

    def colliding_draw(*, template, n):
        draws.append(n)
        if len(draws) == 1:  # the first batch: all taken codes, and one new code twice
            fresh = real_draw(template=template, n=1)
            return (taken + fresh + fresh)[:n] if n >= 12 else taken[:n]
        return real_draw(template=template, n=n)

    monkeypatch.setattr(generation, "codes_draw", colliding_draw)

    assert codes_generate(coupon=bulk, count=20) == 20

    assert draws == [20, 19]
    codes = _codes(bulk)
    assert len(codes) == len(set(codes)) == 30


def test_codes_are_unique_across_campaigns_whatever_the_case(db, monkeypatch):
    coupon_create(
        name="Poster",
        kind="single_code",
        code="spring-abcdefgh",
        discount={"type": "percent", "percent_off": "10"},
    )
    bulk = _bulk()
    real_draw = generation.codes_draw
    first = []

    def draw(*, template, n):
        if not first:
            first.append(n)
            return ["SPRING-ABCDEFGH", *real_draw(template=template, n=n - 1)]
        return real_draw(template=template, n=n)

    monkeypatch.setattr(generation, "codes_draw", draw)

    assert codes_generate(coupon=bulk, count=5) == 5

    assert CouponCode.objects.filter(code="SPRING-ABCDEFGH").count() == 1
    assert not CouponCode.objects.filter(coupon=bulk, code="SPRING-ABCDEFGH").exists()
    assert CouponCode.objects.filter(coupon=bulk).count() == 5


def test_the_database_refuses_a_lower_case_code(bulk):
    with pytest.raises(IntegrityError), transaction.atomic():
        CouponCode.objects.create(coupon=bulk, code="spring-abcdefgh")


def test_generation_emits_one_codes_generated_event_with_the_count(bulk):
    codes_generate(coupon=bulk, count=42)

    events = list(Event.objects.filter(type="coupon.codes_generated"))
    assert len(events) == 1
    assert events[0].payload["count"] == 42
    assert events[0].payload["coupon"]["id"] == bulk.id


def test_a_single_code_campaign_gets_no_generated_codes(db):
    coupon = coupon_create(
        name="Poster", kind="single_code", code="POSTER", discount={"type": "percent", "percent_off": "10"}
    )

    with pytest.raises(Unprocessable) as refused:
        codes_generate(coupon=coupon, count=10)

    assert refused.value.code == "coupon_not_bulk"
    assert CouponCode.objects.filter(coupon=coupon).count() == 1


@pytest.mark.parametrize("count", [0, -1, 1_000_001, "10", 2.5, True, None])
def test_a_count_outside_one_to_a_million_is_refused(bulk, count):
    with pytest.raises(InvalidRequest) as refused:
        codes_generate(coupon=bulk, count=count)

    assert (refused.value.code, refused.value.param) == ("parameter_invalid", "count")
    assert not CouponCode.objects.filter(coupon=bulk).exists()


def test_a_count_that_would_fill_more_than_a_millionth_of_the_templates_space_is_refused(bulk, monkeypatch):
    monkeypatch.setattr(generation, "code_space", lambda template: 100 * 1_000_000)  # room for 100 codes
    codes_generate(coupon=bulk, count=60)

    with pytest.raises(Unprocessable) as refused:
        codes_generate(coupon=bulk, count=41)

    assert (refused.value.code, refused.value.param) == ("code_template_exhausted", "count")
    assert "100 codes at most" in refused.value.message and "40 more at most" in refused.value.message
    assert CouponCode.objects.filter(coupon=bulk).count() == 60
    assert codes_generate(coupon=bulk, count=40) == 40  # exactly up to one in a million


# --- Export -------------------------------------------------------------------------------------


def test_export_rows_carry_code_state_who_redeemed_and_when(bulk):
    codes_generate(coupon=bulk, count=3)
    customer = CustomerFactory(external_id="reader-7")
    redeemed = _codes(bulk)[0]
    coupon_redeem(code=redeemed.lower(), customer=customer, target="subscription", subscription_id="sub_x")

    rows = list(codes_export_rows(coupon=bulk))

    assert rows[0] == ("code", "state", "redeemed_by", "redeemed_at")
    body = {row[0]: row for row in rows[1:]}
    assert len(body) == 3
    assert body[redeemed][1:3] == ("redeemed", "reader-7")
    assert body[redeemed][3]
    assert all(row[1:] == ("redeemable", "", "") for code, row in body.items() if code != redeemed)


# --- The command --------------------------------------------------------------------------------


def test_the_command_generates_prints_the_total_and_shows_progress(bulk, monkeypatch):
    monkeypatch.setattr(generation, "BATCH_SIZE", 40)
    out, err = io.StringIO(), io.StringIO()

    call_command("generate_coupon_codes", bulk.id, "--count", "100", stdout=out, stderr=err)

    assert CouponCode.objects.filter(coupon=bulk).count() == 100
    assert "generated 100 codes" in out.getvalue()
    progress = err.getvalue().splitlines()
    assert [line.split()[1] for line in progress] == ["40/100", "80/100", "100/100"]


def test_the_command_refuses_an_unknown_campaign(db):
    with pytest.raises(CommandError):
        call_command("generate_coupon_codes", "cpn_nope", "--count", "5", stdout=io.StringIO())


def test_the_command_reports_a_refused_count(bulk):
    with pytest.raises(CommandError, match="parameter_invalid"):
        call_command("generate_coupon_codes", bulk.id, "--count", "0", stdout=io.StringIO(), stderr=io.StringIO())


def test_the_command_is_held_to_the_templates_density_too(bulk, monkeypatch):
    monkeypatch.setattr(generation, "code_space", lambda template: 100 * 1_000_000)

    with pytest.raises(
        CommandError, match=re.escape("code_template_exhausted: The template SPRING-******** may hold 100")
    ):
        call_command("generate_coupon_codes", bulk.id, "--count", "101", stdout=io.StringIO(), stderr=io.StringIO())
    assert not CouponCode.objects.filter(coupon=bulk).exists()


# --- The API ------------------------------------------------------------------------------------


def test_post_codes_answers_201_with_the_number_generated(operator_client, bulk):
    response = operator_client.post(f"/api/v1/coupons/{bulk.id}/codes", {"count": 25}, format="json")

    assert response.status_code == 201, response.content
    assert response.json() == {"generated": 25}
    assert CouponCode.objects.filter(coupon=bulk).count() == 25


def test_post_codes_above_ten_thousand_is_queued_and_runs_after_commit(
    operator_client, bulk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = operator_client.post(f"/api/v1/coupons/{bulk.id}/codes", {"count": 10_001}, format="json")

        assert response.status_code == 202, response.content
        queued = response.json()["generation"]
        assert (queued["status"], queued["requested"], queued["generated"]) == ("queued", 10_001, 0)
        assert CouponCode.objects.filter(coupon=bulk).count() == 0  # nothing before the commit

    assert len(callbacks) == 1
    assert CouponCode.objects.filter(coupon=bulk).count() == 10_001
    assert CodeGeneration.objects.get(public_id=queued["id"]).status == CodeGeneration.Status.SUCCEEDED


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "parameter_missing"),
        ({"count": 0}, 400, "parameter_invalid"),
        ({"count": "ten"}, 400, "parameter_invalid"),
        ({"count": 1_000_001}, 400, "parameter_invalid"),
    ],
)
def test_post_codes_refuses_a_bad_count(operator_client, bulk, body, status, code):
    _error(operator_client.post(f"/api/v1/coupons/{bulk.id}/codes", body, format="json"), status, code)
    assert not CouponCode.objects.filter(coupon=bulk).exists()


def test_post_codes_on_a_single_code_campaign_answers_422(operator_client, db):
    coupon = coupon_create(
        name="Poster", kind="single_code", code="POSTER", discount={"type": "percent", "percent_off": "10"}
    )

    _error(
        operator_client.post(f"/api/v1/coupons/{coupon.id}/codes", {"count": 5}, format="json"), 422, "coupon_not_bulk"
    )


@pytest.mark.parametrize("query", ["", "?format=csv"])
def test_codes_of_an_unknown_campaign_answer_404(operator_client, query):
    _error(operator_client.get(f"/api/v1/coupons/cpn_nope/codes{query}"), 404, "resource_missing")


@pytest.mark.parametrize("query", ["", "?format=csv"])
def test_codes_need_an_operator_key(anon_client, customer_client, bulk, query):
    _error(anon_client.get(f"/api/v1/coupons/{bulk.id}/codes{query}"), 401, "not_authenticated")
    _error(customer_client.get(f"/api/v1/coupons/{bulk.id}/codes{query}"), 403, "operator_key_required")
    _error(anon_client.post(f"/api/v1/coupons/{bulk.id}/codes", {"count": 1}, format="json"), 401, "not_authenticated")


def test_get_codes_lists_them_with_their_state_page_by_page(operator_client, bulk):
    codes_generate(coupon=bulk, count=5)
    customer = CustomerFactory()
    redeemed = _codes(bulk)[0]
    coupon_redeem(code=redeemed, customer=customer, target="subscription", subscription_id="sub_42")

    first = operator_client.get(f"/api/v1/coupons/{bulk.id}/codes?limit=3").json()
    second = operator_client.get(first["next"]).json()

    assert second["next"] is None
    rows = first["results"] + second["results"]
    assert len(rows) == 5
    assert {row["code"] for row in rows} == set(_codes(bulk))
    assert set(rows[0]) == {"id", "code", "state", "redeemed_by", "redeemed_at", "subscription"}
    used = next(row for row in rows if row["code"] == redeemed)
    assert (used["state"], used["redeemed_by"], used["subscription"]) == ("redeemed", customer.id, "sub_42")
    assert used["redeemed_at"]
    fresh = next(row for row in rows if row["code"] != redeemed)
    assert (fresh["state"], fresh["redeemed_by"], fresh["redeemed_at"], fresh["subscription"]) == (
        "redeemable",
        None,
        None,
        None,
    )


def test_get_codes_as_csv_streams_a_header_and_one_row_per_code(operator_client, bulk):
    codes_generate(coupon=bulk, count=7)
    customer = CustomerFactory(external_id="viewer-1")
    redeemed = _codes(bulk)[0]
    coupon_redeem(code=redeemed, customer=customer, target="subscription", subscription_id="sub_1")

    response = operator_client.get(f"/api/v1/coupons/{bulk.id}/codes?format=csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 7
    assert {row["code"] for row in rows} == set(_codes(bulk))
    assert set(rows[0]) == {"code", "state", "redeemed_by", "redeemed_at"}
    used = next(row for row in rows if row["code"] == redeemed)
    assert (used["state"], used["redeemed_by"]) == ("redeemed", "viewer-1")


def test_draws_that_only_repeat_taken_codes_end_as_an_exhausted_template(bulk, monkeypatch):
    codes_generate(coupon=bulk, count=1)
    taken = CouponCode.objects.get(coupon=bulk).code
    drawn = []
    monkeypatch.setattr(generation, "codes_draw", lambda *, template, n: drawn.extend([taken] * n) or [taken] * n)

    with pytest.raises(Unprocessable) as refused:
        codes_generate(coupon=bulk, count=5)

    assert refused.value.code == "code_template_exhausted"
    assert len(drawn) >= 1000  # a few unlucky small batches are not mistaken for a full template
    assert CouponCode.objects.filter(coupon=bulk).count() == 1
