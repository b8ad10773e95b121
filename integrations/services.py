"""Writes to the event outbox, and its retention purge."""

import json
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from integrations.connectors.selectors import connectors_cursor_floor
from integrations.kernel.audit import audit_actor
from integrations.kernel.ids import new_id
from integrations.models import Event, WebhookDelivery
from integrations.webhooks.fanout import (
    deliveries_fan_out_batch,
    deliveries_fan_out_listed,
    events_insert_fanned_out,
)


def frozen_payload(payload: dict[str, Any]) -> dict:
    """The payload as stored: Decimals, datetimes and the like frozen as JSON text now."""
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def _actor_columns() -> dict[str, str]:
    """Who caused the events written now: the audit context's actor (none for a customer)."""
    actor = audit_actor()
    if actor is None:
        return {"actor_type": "", "actor_id": "", "actor_name": ""}
    return {"actor_type": actor.type, "actor_id": actor.id[:64], "actor_name": actor.name[:150]}


def event_emit(*, type: str, payload: dict[str, Any], customer_id: str = "") -> Event:
    """Record an event inside the caller's transaction, so it exists exactly when the change does,
    with a webhook delivery for each endpoint that asked for its type."""
    if connection.vendor == "postgresql":
        return _events_insert([(type, payload, customer_id)])[0]
    event = Event.objects.create(
        type=type, payload=frozen_payload(payload), customer_id=customer_id or "", **_actor_columns()
    )
    deliveries_fan_out_listed([(event.id, event.type)])
    return event


_COPY_FROM = 20  # events
_EVENT_COLUMNS = ("id", "type", "created_at", "customer_id", "payload", "actor_type", "actor_id", "actor_name")
_EVENTS_INSERT = (
    f"INSERT INTO {Event._meta.db_table} ({', '.join(_EVENT_COLUMNS)})"  # noqa: S608 - identifiers from our model
    " SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[], %s::varchar[], %s::text[]::jsonb[],"
    " %s::varchar[], %s::varchar[], %s::varchar[]) RETURNING id, type, seq"
)


def _events_insert(events: list[tuple[str, dict[str, Any], str]]) -> list[Event]:
    """A few events and their deliveries as one statement on PostgreSQL (a checkout's round trips
    are its cost); answers them as written, seq included."""
    now, actor = timezone.now(), _actor_columns()
    written = [
        Event(
            id=new_id("evt"),
            type=type_,
            created_at=now,
            customer_id=customer_id or "",
            payload=json.dumps(payload, cls=DjangoJSONEncoder),
            **actor,
        )
        for type_, payload, customer_id in events
    ]
    params = [[getattr(event, column) for event in written] for column in _EVENT_COLUMNS]
    seqs = dict(events_insert_fanned_out(events_insert=_EVENTS_INSERT, params=params))
    for event in written:
        event.payload, event.seq = json.loads(event.payload), seqs[event.id]
    return written


def events_emit(events: list[tuple[str, dict[str, Any], str]]) -> None:
    """Record many events, (type, payload, customer_id) each, inside the caller's transaction: the
    set-based paths' `event_emit`. A batch on PostgreSQL is one COPY (its payloads are the bulk of
    its bytes, and COPY takes each as JSON text without per-parameter quoting) and one statement
    for its webhook deliveries (an EXISTS when no endpoint is enabled, else one INSERT ... SELECT);
    a few events are one statement with their deliveries (COPY's round trips cost more than it
    saves for them)."""
    if not events:
        return
    if connection.vendor != "postgresql":
        actor = _actor_columns()
        written = Event.objects.bulk_create(
            [
                Event(type=type_, payload=frozen_payload(payload), customer_id=customer_id or "", **actor)
                for type_, payload, customer_id in events
            ]
        )
        deliveries_fan_out_listed([(event.id, event.type) for event in written])
        return
    if len(events) < _COPY_FROM:
        _events_insert(events)
        return
    actor = _actor_columns()
    now = timezone.now()
    table = Event._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} (id, type, created_at, customer_id, payload, actor_type, actor_id, actor_name) FROM STDIN"
        ) as copy,
    ):
        who = (actor["actor_type"], actor["actor_id"], actor["actor_name"])
        ids = []
        for type_, payload, customer_id in events:
            ids.append(new_id("evt"))
            copy.write_row((ids[-1], type_, now, customer_id or "", json.dumps(payload, cls=DjangoJSONEncoder), *who))
    # The batch's rows are those of its time and id range (ids are time-ordered, their tails random).
    deliveries_fan_out_batch(event_table=table, created_at=now, first_id=min(ids), last_id=max(ids), count=len(ids))


def _replaced(value: Any, replacements: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, dict):
        return {key: _replaced(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item, replacements) for item in value]
    return value


def event_payloads_scrub(*, customer_id: str, replacements: dict[str, Any]) -> int:
    """Erasure: in every event of the customer, each string value that is a key of `replacements`
    (their email, name, external id) becomes its replacement, wherever the payload holds it.
    By value, not by field name, since the outbox knows no payload's shape. Answers how many changed."""
    values = {old: new for old, new in replacements.items() if old}
    changed = 0
    for event in Event.objects.filter(customer_id=customer_id).only("id", "payload").iterator(chunk_size=500):
        scrubbed = _replaced(event.payload, values)
        if scrubbed != event.payload:
            Event.objects.filter(pk=event.pk).update(payload=scrubbed)
            changed += 1
    return changed


PURGE_BATCH = 2000  # events per short transaction
PURGE_SECONDS = 240  # one scheduled run's budget, under the worker's 300 s timeout; the next run goes on


def events_purge(*, now: datetime | None = None, batch: int = PURGE_BATCH, seconds: float = PURGE_SECONDS) -> int:
    """Delete the events older than EVENT_RETENTION_DAYS that nothing needs any more: every
    connector that reads on has handled them (connectors_cursor_floor) and none has a webhook
    delivery still pending; their finished deliveries (the delivery log) go with them. Oldest first,
    `batch` at a time, each batch its own short transaction (rows another purge holds are skipped),
    so the outbox is never locked for long. The newest event always stays: SQLite numbers seq from
    it. Answers how many events were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    newest = Event.objects.aggregate(newest=Max("seq"))["newest"]
    if newest is None:
        return 0
    floor = connectors_cursor_floor()
    below = newest if floor is None else min(floor + 1, newest)
    pending = WebhookDelivery.objects.filter(event=OuterRef("pk"), status=WebhookDelivery.Status.PENDING)
    purgeable = Event.objects.filter(created_at__lt=cutoff, seq__lt=below).exclude(Exists(pending))
    deleted, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with transaction.atomic():
            ids = list(
                purgeable.order_by("created_at")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            WebhookDelivery.objects.filter(event_id__in=ids).delete()
            Event.objects.filter(id__in=ids).delete()
        deleted += len(ids)
    return deleted
