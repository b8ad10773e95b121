"""Large generations run in the background, batch by batch, with their progress on a row the
admin shows; a second run of the task resumes instead of adding more codes."""

import pytest

from coupons.models import CodeGeneration, CouponCode
from coupons.services import coupon_create
from coupons.services import generation as generation_module
from coupons.services.generation import code_generation_run, codes_generate_enqueue


@pytest.fixture
def campaign(db):
    return coupon_create(
        name="Spring", kind="bulk", code_template="SPRING-********", discount={"type": "percent", "percent_off": "10"}
    )


def test_a_queued_generation_makes_exactly_the_requested_codes_in_batches_with_progress(
    campaign, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(generation_module, "BATCH_SIZE", 300)
    seen = []
    real_generate = generation_module.codes_generate

    def counting(*, coupon, count, progress=None, generation=None):
        added = real_generate(coupon=coupon, count=count, generation=generation)
        seen.append(CodeGeneration.objects.get().generated)  # what the admin showed before this batch
        return added

    monkeypatch.setattr(generation_module, "codes_generate", counting)
    with django_capture_on_commit_callbacks(execute=True):  # Q sync in tests: the task runs here
        generation = codes_generate_enqueue(coupon=campaign, count=1000)

    generation.refresh_from_db()
    assert (generation.status, generation.generated, generation.requested) == ("succeeded", 1000, 1000)
    assert seen == [0, 300, 600, 900]
    assert CouponCode.objects.filter(coupon=campaign).count() == 1000
    assert generation.finished_at is not None


def test_running_the_task_again_resumes_and_never_exceeds_the_request(campaign, monkeypatch):
    monkeypatch.setattr(generation_module, "BATCH_SIZE", 250)
    generation = CodeGeneration.objects.create(coupon=campaign, requested=600, generated=0)
    CodeGeneration.objects.filter(pk=generation.pk).update(status="running")

    code_generation_run(generation_id=generation.pk)
    code_generation_run(generation_id=generation.pk)

    generation.refresh_from_db()
    assert generation.generated == 600 and generation.status == "succeeded"
    assert CouponCode.objects.filter(coupon=campaign).count() == 600


def test_the_campaign_page_shows_background_generations_by_cgn_id_with_their_progress(campaign, admin_client):
    generation = CodeGeneration.objects.create(coupon=campaign, requested=50000, generated=25000, status="running")

    page = admin_client.get(f"/admin/coupons/coupon/{campaign.pk}/change/")

    assert page.status_code == 200
    body = page.content.decode()
    assert generation.public_id in body and generation.public_id.startswith("cgn_")
    assert "25,000 / 50,000 (50%)" in body and "running" in body
