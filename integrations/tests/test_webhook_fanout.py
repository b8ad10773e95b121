"""Deliveries are written with their events, in the same transaction, and cost next to nothing
when no endpoint wants them."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations.models import Event, WebhookDelivery
from integrations.services import event_emit, events_emit
from integrations.webhooks.services import webhook_endpoint_create

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
URL = "https://93.184.216.34/hooks"


def _webhook_queries(captured):
    return [q["sql"] for q in captured.captured_queries if "webhook" in q["sql"]]


def test_a_batch_with_no_endpoint_costs_one_exists():
    with CaptureQueriesContext(connection) as captured:
        events_emit([("payment.succeeded", {"n": n}, "") for n in range(500)])
    assert Event.objects.count() == 500
    [query] = _webhook_queries(captured)
    assert "EXISTS" in query.upper() or "LIMIT 1" in query.upper()


def test_a_batch_fans_out_in_one_statement_to_the_endpoints_that_match():
    _, payments = webhook_endpoint_create(url=URL, enabled_events=["payment.*"])
    _, everything = webhook_endpoint_create(url=URL)
    _, plans = webhook_endpoint_create(url=URL, enabled_events=["plan.created"])
    with CaptureQueriesContext(connection) as captured:
        events_emit([("payment.succeeded", {"n": n}, "") for n in range(300)] + [("invoice.paid", {}, "")] * 20)
    assert len([q for q in _webhook_queries(captured) if q.lstrip().upper().startswith("WITH")]) == 1
    assert WebhookDelivery.objects.filter(endpoint=payments).count() == 300
    assert WebhookDelivery.objects.filter(endpoint=everything).count() == 320
    assert not WebhookDelivery.objects.filter(endpoint=plans).exists()
    ids = list(WebhookDelivery.objects.values_list("id", flat=True))
    assert len(set(ids)) == 620 and all(len(i) == 30 and i.startswith("whd_") for i in ids)


def test_a_few_events_fan_out_too():
    webhook_endpoint_create(url=URL, enabled_events=["coupon.redeemed"])
    events_emit([("coupon.redeemed", {}, ""), ("coupon.created", {}, "")])
    assert WebhookDelivery.objects.get().event.type == "coupon.redeemed"


def test_one_event_with_no_endpoint_costs_one_statement():
    with CaptureQueriesContext(connection) as captured:
        event_emit(type="plan.created", payload={})
    assert len(_webhook_queries(captured)) == 1


def test_a_rolled_back_event_leaves_no_delivery():
    webhook_endpoint_create(url=URL)
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type="plan.created", payload={})
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("the change failed")
    assert not WebhookDelivery.objects.exists() and not Event.objects.exists()
