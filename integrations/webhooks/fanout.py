"""Deliveries written with their events: a row per (event, enabled endpoint whose filter matches),
in the event's own transaction, and a send queued for after it commits."""

import threading

from django.db import connection, transaction
from django.utils import timezone

from integrations.kernel.ids import new_id
from integrations.webhooks.event_types import event_matches
from integrations.webhooks.models import WebhookDelivery, WebhookEndpoint

_ENABLED = WebhookEndpoint.Status.ENABLED

# The delivery id in SQL, the shape of new_id("whd"): the event id's time and first random
# characters, then 40 random bits (md5's hex digits are in the id alphabet).
_SQL_DELIVERY_ID = "'whd_' || substr(e.id, 5, 16) || substr(md5(random()::text || w.id), 1, 10)"
_SQL_MATCHES = (
    "w.status = 'enabled' AND (w.enabled_events @> '[\"*\"]'::jsonb"
    " OR w.enabled_events @> jsonb_build_array(e.type)"
    " OR w.enabled_events @> jsonb_build_array(split_part(e.type, '.', 1) || '.*'))"
)


def _deliveries_insert(source: str, where: str = "") -> str:
    """INSERT ... SELECT of the deliveries of the events in `source` (rows of id and type), returning
    the endpoints written to; a rerun writes nothing twice (unique per event and endpoint)."""
    table, endpoints = WebhookDelivery._meta.db_table, WebhookEndpoint._meta.db_table
    return (
        f"INSERT INTO {table} (id, event_id, endpoint_id, status, attempt, next_attempt_at,"  # noqa: S608 - identifiers from our models
        " lease_token, response_body, last_error, created_at)"
        f" SELECT {_SQL_DELIVERY_ID}, e.id, w.id, 'pending', 0, now(), '', '', '', now()"
        f" FROM {source} JOIN {endpoints} w ON {_SQL_MATCHES} {where}"
        " ON CONFLICT DO NOTHING RETURNING endpoint_id"
    )


def _insert_select(source: str, where: str = "") -> str:
    return f"WITH ins AS ({_deliveries_insert(source, where)}) SELECT DISTINCT endpoint_id FROM ins"  # noqa: S608 - identifiers from our models


_pending = threading.local()


def _send_after_commit(endpoint_ids) -> None:
    """One send per transaction, whatever the number of events in it (the set gathers them)."""
    if not endpoint_ids:
        return
    waiting = getattr(_pending, "endpoints", None)
    if waiting is None:
        waiting = _pending.endpoints = set()
    waiting.update(endpoint_ids)

    def queue():
        ids = sorted(getattr(_pending, "endpoints", ()) or ())
        _pending.endpoints = set()
        if ids:
            from django_q.tasks import async_task

            async_task("integrations.tasks.webhook_deliveries_send", ids, task_name="webhooks-send")

    transaction.on_commit(queue, robust=True)


def _returned_endpoints(cursor) -> set[str]:
    return {row[0] for row in cursor.fetchall()}


def events_insert_fanned_out(*, events_insert: str, params: list) -> list[tuple[str, int]]:
    """Events and their deliveries in one statement (PostgreSQL): `events_insert` is an INSERT into
    the event table RETURNING id, type, seq; answers each written event's (id, seq)."""
    sql = (
        f"WITH e AS ({events_insert}), ins AS ({_deliveries_insert('e')})"  # noqa: S608 - our own statements
        " SELECT e.id, e.seq, (SELECT array_agg(DISTINCT endpoint_id) FROM ins) FROM e"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    _send_after_commit(set(rows[0][2] or ()) if rows else set())
    return [(event_id, seq) for event_id, seq, _ in rows]


def deliveries_fan_out_batch(*, event_table: str, created_at, first_id: str, last_id: str, count: int = 0) -> None:
    """For a batch of events just copied in (all with `created_at`, ids from first_id to last_id):
    one EXISTS when no endpoint is enabled, else one INSERT ... SELECT over the batch's rows."""
    if not WebhookEndpoint.objects.filter(status=_ENABLED).exists():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_select(f"{event_table} e", "WHERE e.created_at = %s AND e.id BETWEEN %s AND %s"),
            [created_at, first_id, last_id],
        )
        _send_after_commit(_returned_endpoints(cursor))


def deliveries_fan_out_listed(events: list[tuple[str, str]]) -> None:
    """(event id, type) pairs just written, on SQLite (the laptop demo): the endpoints read once,
    matched here (PostgreSQL writes deliveries with their events: events_insert_fanned_out)."""
    endpoints = list(WebhookEndpoint.objects.filter(status=_ENABLED).values_list("id", "enabled_events"))
    if not endpoints:
        return
    now = timezone.now()
    rows = [
        WebhookDelivery(id=new_id("whd"), event_id=event_id, endpoint_id=endpoint_id, next_attempt_at=now)
        for event_id, event_type in events
        for endpoint_id, filters in endpoints
        if event_matches(filters or [], event_type)
    ]
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    _send_after_commit({row.endpoint_id for row in rows})
