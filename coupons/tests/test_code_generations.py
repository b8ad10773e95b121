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


# --- Over HTTP: 202 with the generation, then its progress at /code-generations/{cgn_id} ------------


def _generations_url(coupon, generation_id: str) -> str:
    return f"/api/v1/coupons/{coupon.id}/code-generations/{generation_id}"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_a_queued_generation_answers_202_with_its_cgn_id_and_reads_back_as_it_progresses(
    operator_client, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator_client.post(f"/api/v1/coupons/{campaign.id}/codes", {"count": 10_001}, format="json")

    assert response.status_code == 202, response.content
    queued = response.json()
    assert set(queued) == {"generation"}
    generation_id = queued["generation"]["id"]
    assert generation_id.startswith("cgn_") and len(generation_id) == 30
    assert {key: queued["generation"][key] for key in ("status", "requested", "generated")} == {
        "status": "queued",
        "requested": 10_001,
        "generated": 0,
    }
    assert operator_client.get(_generations_url(campaign, generation_id)).json() == queued["generation"]

    callbacks[0]()  # the worker runs it

    read = operator_client.get(_generations_url(campaign, generation_id))
    assert read.status_code == 200
    body = read.json()
    assert (body["id"], body["coupon"], body["status"]) == (generation_id, campaign.id, "succeeded")
    assert (body["requested"], body["generated"], body["error"]) == (10_001, 10_001, None)
    assert body["finished_at"] and body["created_at"]


def test_a_running_generation_reads_with_its_progress(operator_client, campaign):
    generation = CodeGeneration.objects.create(coupon=campaign, requested=50_000, generated=20_000, status="running")

    body = operator_client.get(_generations_url(campaign, generation.public_id)).json()

    assert (body["status"], body["requested"], body["generated"], body["finished_at"]) == (
        "running",
        50_000,
        20_000,
        None,
    )


def test_a_generation_refused_in_the_background_reads_as_failed_with_why(operator_client, campaign, monkeypatch):
    generation = CodeGeneration.objects.create(coupon=campaign, requested=600)
    monkeypatch.setattr(generation_module, "code_space", lambda template: 100 * 1_000_000)

    code_generation_run(generation_id=generation.pk)

    body = operator_client.get(_generations_url(campaign, generation.public_id)).json()
    assert (body["status"], body["generated"]) == ("failed", 0)
    assert "may hold 100 codes at most" in body["error"]
    assert not CouponCode.objects.exists()


def test_an_unknown_generation_or_another_campaigns_is_404_in_the_error_format(operator_client, campaign):
    other = coupon_create(
        name="Autumn", kind="bulk", code_template="AUTUMN-********", discount={"type": "percent", "percent_off": "10"}
    )
    theirs = CodeGeneration.objects.create(coupon=other, requested=20_000)

    for url in (
        _generations_url(campaign, "cgn_nope"),
        _generations_url(campaign, theirs.public_id),
        _generations_url(campaign, str(theirs.pk)),  # the internal number is no id
        f"/api/v1/coupons/cpn_nope/code-generations/{theirs.public_id}",
    ):
        body = _error(operator_client.get(url), 404)
        assert (body["type"], body["code"]) == ("invalid_request_error", "resource_missing")
    assert operator_client.get(_generations_url(other, theirs.public_id)).status_code == 200


def test_generations_are_read_with_an_operator_key_only(anon_client, customer_client, campaign):
    generation = CodeGeneration.objects.create(coupon=campaign, requested=20_000)

    assert _error(anon_client.get(_generations_url(campaign, generation.public_id)), 401)["code"] == "not_authenticated"
    assert _error(customer_client.get(_generations_url(campaign, generation.public_id)), 403)["type"] == (
        "permission_error"
    )


def test_every_generation_has_its_own_cgn_id(campaign):
    ids = {CodeGeneration.objects.create(coupon=campaign, requested=20_000).public_id for _ in range(20)}

    assert len(ids) == 20 and all(i.startswith("cgn_") for i in ids)


def test_the_generation_routes_are_in_the_schema(client, db):
    schema = client.get("/api/schema/?format=json").json()

    read = schema["paths"]["/api/v1/coupons/{coupon_id}/code-generations/{generation_id}"]["get"]
    assert read["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CodeGeneration"
    }
    assert "404" in read["responses"]
    queued = schema["paths"]["/api/v1/coupons/{coupon_id}/codes"]["post"]["responses"]["202"]
    assert queued["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CodeGenerationQueued"}
    component = schema["components"]["schemas"]["CodeGeneration"]
    assert {"id", "status", "requested", "generated"} <= set(component["required"])
    status = schema["components"]["schemas"][component["properties"]["status"]["$ref"].rsplit("/", 1)[1]]
    assert status["enum"] == ["queued", "running", "succeeded", "failed"]


def test_the_generation_list_in_the_admin_finds_one_by_its_cgn_id(campaign, admin_client):
    generation = CodeGeneration.objects.create(coupon=campaign, requested=40_000, generated=10_000, status="running")
    CodeGeneration.objects.create(coupon=campaign, requested=20_000)

    page = admin_client.get("/admin/coupons/codegeneration/", {"q": generation.public_id})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [generation]
    assert "10,000 / 40,000 (25%)" in page.content.decode()
