"""The outbox's retention: events older than EVENT_RETENTION_DAYS go, with their delivery log, once
nothing needs them: not while a webhook delivery is pending, not before a connector that reads on
has handled them; in short batches; two purges at once delete each event once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connectors.services import connector_create, connector_disable
from integrations.models import Connector, Event, WebhookDelivery
from integrations.services import event_emit, events_emit, events_purge
from integrations.tests.concurrency import run_at_once
from integrations.webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db
URL = "https://93.184.216.34/hooks"


def aged(days: int, count: int = 1, type_: str = "customer.updated") -> list[Event]:
    """`count` events written `days` ago (in seq order, oldest first)."""
    events = [event_emit(type=type_, payload={"n": n}, customer_id="cus_1") for n in range(count)]
    ids = [event.pk for event in events]
    Event.objects.filter(pk__in=ids).update(created_at=timezone.now() - timedelta(days=days))
    return list(Event.objects.filter(pk__in=ids).order_by("seq"))


def left() -> set[str]:
    return set(Event.objects.values_list("id", flat=True))


def test_events_past_the_retention_go_with_their_finished_deliveries_and_younger_ones_stay(settings):
    settings.EVENT_RETENTION_DAYS = 400
    _, endpoint = webhook_endpoint_create(url=URL)
    old = aged(401, count=3)
    kept = aged(399, count=2)
    WebhookDelivery.objects.filter(event__in=old).update(status=WebhookDelivery.Status.SUCCEEDED)
    WebhookDelivery.objects.filter(event=old[0]).update(status=WebhookDelivery.Status.FAILED)

    assert events_purge() == 3
    assert left() == {event.pk for event in kept}
    assert not WebhookDelivery.objects.filter(event_id__in=[event.pk for event in old]).exists()
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2  # the young events' deliveries
    assert events_purge() == 0  # a second run finds nothing


def test_an_event_with_a_delivery_still_pending_stays(settings):
    webhook_endpoint_create(url=URL)
    waiting, done = aged(500, count=2)
    WebhookDelivery.objects.filter(event=done).update(status=WebhookDelivery.Status.SUCCEEDED)
    aged(0)

    assert events_purge() == 1
    assert waiting.pk in left() and done.pk not in left()


def test_a_connector_that_reads_on_holds_back_what_it_has_not_handled(settings):
    _, second, third = aged(500, count=3)
    aged(0)
    reading = connector_create(kind="hubspot", name="CRM", credentials={"access_token": "pat"}, enabled=True)
    connector_create(kind="hubspot", name="Never enabled")

    assert events_purge() == 0  # enabled, nothing handled yet: it will read them all
    Connector.objects.filter(pk=reading.pk).update(cursor_seq=second.seq)
    assert events_purge() == 2
    assert third.pk in left()
    connector_disable(connector=reading)  # disabled with a cursor: it resumes from it, so it still holds
    assert events_purge() == 0
    Connector.objects.filter(pk=reading.pk).delete()
    assert events_purge() == 1


def test_the_newest_event_always_stays(settings):
    settings.EVENT_RETENTION_DAYS = 1
    events = aged(10, count=4)
    assert events_purge() == 3
    assert left() == {events[-1].pk}


def test_a_large_purge_goes_in_batches_oldest_first(settings, django_assert_max_num_queries):
    events_emit([("invoice.paid", {"n": n}, "cus_1") for n in range(25)])
    Event.objects.update(created_at=timezone.now() - timedelta(days=401))
    newest = aged(0)[0]
    assert events_purge(batch=10) == 25
    assert left() == {newest.pk}


def test_a_purge_out_of_time_stops_and_the_next_run_goes_on(settings):
    aged(401, count=5)
    aged(0)
    assert events_purge(batch=2, seconds=0) == 0
    assert events_purge(batch=2) == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_two_purges_at_once_delete_each_event_once(settings):
    events_emit([("invoice.paid", {"n": n}, "cus_1") for n in range(300)])
    Event.objects.update(created_at=timezone.now() - timedelta(days=401))
    aged(0)

    results = run_at_once(lambda: events_purge(batch=20), [(), (), ()])

    assert all(isinstance(result, int) for result in results), results
    assert sum(results) == 300
    assert Event.objects.count() == 1
