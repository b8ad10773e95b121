"""Connectors' writes: creating and switching them, and the runner that feeds each one the outbox
after its cursor, in the order the events were written (Event.seq), one event at a time.

Why a settle window: an event row is numbered when it is inserted, before its transaction commits,
so an event with a lower seq can become visible after a higher one was already read. A cursor that
passed the higher one would never see it. The runner stops at the first event younger than
CONNECTOR_SETTLE_SECONDS and leaves it and all after it for the next run, by which time every
transaction that could still insert a lower one has committed (or a transaction longer than the
window has: keep them short, as the services do)."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.connectors.base import VendorError, VendorRateLimited
from integrations.connectors.registry import KINDS
from integrations.kernel.errors import InvalidRequest
from integrations.models import Connector, Event

logger = logging.getLogger(__name__)

Health = Connector.Health

BATCH_EVENTS = 100  # events per locked transaction: a crash re-sends at most these (upserts: harmless)
RUN_SECONDS = 45  # one scheduled run's budget (the schedule fires every minute)
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


@dataclass(frozen=True)
class RunResult:
    ran: bool
    handled: int = 0
    error: str = ""
    skipped: str = ""  # why it did not run: "busy", "disabled", "not due", "caught up"


def backoff_seconds(failures: int) -> int:
    """30 s after the first failure, doubling, at most an hour."""
    return min(BACKOFF_FIRST_SECONDS * 2 ** max(failures - 1, 0), BACKOFF_MAX_SECONDS)


# --- Operators' changes ----------------------------------------------------------------------------


def _kind_of(kind: str):
    if kind not in Connector.Kind.values:
        raise InvalidRequest(f"Unknown connector kind '{kind}'.", code="parameter_invalid", param="kind")
    return KINDS.get(kind)


def _clean_settings(settings_: dict) -> dict:
    base_url = (settings_ or {}).get("base_url")
    if base_url and not str(base_url).startswith(("https://", "http://")):
        raise InvalidRequest(
            "The base URL must start with https:// or http://.", code="parameter_invalid", param="base_url"
        )
    return dict(settings_ or {})


def _check_settings(spec, settings_: dict, *, enabled: bool) -> None:
    if spec is not None and spec.check_settings is not None:
        spec.check_settings(settings_, enabled=enabled)


def connector_create(
    *, kind: str, name: str, credentials: dict | None = None, settings: dict | None = None, enabled: bool = False
) -> Connector:
    spec = _kind_of(kind)
    if not (name or "").strip():
        raise InvalidRequest("A connector needs a name.", code="parameter_missing", param="name")
    merged = {**(spec.default_settings if spec else {}), **_clean_settings(settings or {})}
    _check_settings(spec, merged, enabled=False)
    connector = Connector.objects.create(
        kind=kind, name=name.strip(), credentials={k: v for k, v in (credentials or {}).items() if v}, settings=merged
    )
    if enabled:
        connector = connector_enable(connector=connector)
    return connector


def connector_update(
    *, connector: Connector, name: str | None = None, credentials: dict | None = None, settings: dict | None = None
) -> Connector:
    """`credentials`: the values typed in; a name left out keeps its stored value."""
    with transaction.atomic():
        locked = Connector.objects.select_for_update().get(pk=connector.pk)
        if name is not None:
            if not name.strip():
                raise InvalidRequest("A connector needs a name.", code="parameter_missing", param="name")
            locked.name = name.strip()
        if credentials:
            locked.credentials = {**(locked.credentials or {}), **{k: v for k, v in credentials.items() if v}}
        if settings is not None:
            locked.settings = {**(locked.settings or {}), **_clean_settings(settings)}
            _check_settings(KINDS.get(locked.kind), locked.settings, enabled=locked.enabled)
        locked.save()
    return locked


def connector_enable(*, connector: Connector) -> Connector:
    """Start (or resume) reading the outbox from the connector's cursor."""
    spec = _kind_of(connector.kind)
    if spec is None:
        raise InvalidRequest(
            f"The {connector.get_kind_display()} connector is not available yet.", code="connector_unavailable"
        )
    with transaction.atomic():
        locked = Connector.objects.select_for_update().get(pk=connector.pk)
        _check_settings(spec, locked.settings or {}, enabled=True)
        if not locked.enabled:
            locked.enabled, locked.status = True, Health.OK
            locked.consecutive_failures, locked.next_attempt_at = 0, None
            locked.save()
    return locked


def connector_disable(*, connector: Connector) -> Connector:
    """Stop reading; the cursor stays where it is, so enabling resumes from it."""
    with transaction.atomic():
        locked = Connector.objects.select_for_update().get(pk=connector.pk)
        if locked.enabled:
            locked.enabled, locked.status, locked.next_attempt_at = False, Health.DISABLED, None
            locked.save()
    return locked


def connector_backoff_reset(*, connector: Connector) -> Connector:
    """Retry at the next run instead of waiting out the back-off (the error stays shown)."""
    with transaction.atomic():
        locked = Connector.objects.select_for_update().get(pk=connector.pk)
        locked.next_attempt_at, locked.consecutive_failures = None, 0
        locked.save(update_fields=["next_attempt_at", "consecutive_failures", "updated_at"])
    return locked


# --- The runner ------------------------------------------------------------------------------------


def _events_after(connector: Connector, *, until: datetime, limit: int) -> list[Event]:
    """The next events in seq order, up to the first one that has not settled (created after
    `until`): none after it may be handled before it."""
    events = []
    for event in Event.objects.filter(seq__gt=connector.cursor_seq).order_by("seq")[:limit]:
        if event.created_at > until:
            break
        events.append(event)
    return events


def _failed(connector: Connector, error: VendorError, now: datetime) -> None:
    connector.consecutive_failures += 1
    wait = backoff_seconds(connector.consecutive_failures)
    if isinstance(error, VendorRateLimited) and error.retry_after is not None:
        wait = error.retry_after  # the vendor said when: exactly then, no sooner
    connector.status, connector.last_error, connector.last_error_at = Health.FAILING, error.message[:2000], now
    connector.next_attempt_at = now + timedelta(seconds=wait)


def _batch(connector_id: str, *, force: bool, limit: int, deadline: float) -> RunResult:
    """One locked transaction: the connector row (SKIP LOCKED: another runner has it = "busy"),
    up to `limit` settled events, the cursor moved past each one that succeeded. It stops early at
    `deadline` (time.monotonic()), so a slow vendor cannot hold the transaction open for long."""
    with transaction.atomic():
        connector = Connector.objects.select_for_update(skip_locked=True).filter(pk=connector_id).first()
        if connector is None:
            exists = Connector.objects.filter(pk=connector_id).exists()
            return RunResult(ran=False, skipped="busy" if exists else "missing")
        if not connector.enabled:
            return RunResult(ran=False, skipped="disabled")
        now = timezone.now()
        if not force and connector.next_attempt_at is not None and connector.next_attempt_at > now:
            return RunResult(ran=False, skipped="not due")
        settle = timedelta(seconds=settings.CONNECTOR_SETTLE_SECONDS)
        events = _events_after(connector, until=now - settle, limit=limit)
        handled, failure = 0, None
        handler = None
        try:
            handler = KINDS[connector.kind].handler(connector)
            for event in events:
                # A savepoint per event: a failed event's record writes go, the earlier ones stay.
                with transaction.atomic():
                    handler.handle(event)
                connector.cursor_seq, connector.cursor_created_at, connector.cursor_event_id = (
                    event.seq,
                    event.created_at,
                    event.id,
                )
                handled += 1
                if time.monotonic() >= deadline:
                    break
        except VendorError as error:
            failure = error
        except Exception as error:  # a mapping bug: stop on this event, keep it, show it, retry later
            where = events[handled].id if handled < len(events) else "-"
            logger.exception("Connector %s failed on event %s", connector.pk, where)
            failure = VendorError(f"Internal error ({type(error).__name__}) on event {where}")
        finally:
            if handler is not None:
                handler.close()
        connector.events_handled += handled
        if failure is None:
            connector.status, connector.last_success_at = Health.OK, now
            connector.consecutive_failures, connector.next_attempt_at = 0, None
        else:
            _failed(connector, failure, now)
        connector.save(
            update_fields=[
                "cursor_seq",
                "cursor_created_at",
                "cursor_event_id",
                "events_handled",
                "status",
                "last_success_at",
                "last_error",
                "last_error_at",
                "consecutive_failures",
                "next_attempt_at",
                "updated_at",
            ]
        )
    if failure is not None:
        return RunResult(ran=True, handled=handled, error=failure.message)
    caught_up = handled == len(events) < limit
    return RunResult(ran=True, handled=handled, skipped="caught up" if caught_up else "")


def connector_run(
    *, connector: Connector, force: bool = False, seconds: float = RUN_SECONDS, batch: int = BATCH_EVENTS
) -> RunResult:
    """Feed the connector its settled events in seq order until it has caught up, an
    event fails (the error is kept, the same event is retried after the back-off, or the vendor's
    Retry-After) or `seconds` have passed. `force` (the admin's "run now") ignores the back-off.
    Safe to run twice at once: the second finds the connector locked and leaves it."""
    handled, deadline = 0, time.monotonic() + seconds
    while True:
        result = _batch(connector.pk, force=force, limit=batch, deadline=deadline)
        handled += result.handled
        if not result.ran or result.error or result.skipped or time.monotonic() >= deadline:
            return RunResult(ran=result.ran or handled > 0, handled=handled, error=result.error, skipped=result.skipped)
        force = False  # a later batch of this run is due anyway: it just succeeded


def connectors_run() -> dict[str, RunResult]:
    """The schedule's entry point: every enabled connector that is due, each on its own."""
    results = {}
    for connector in Connector.objects.filter(enabled=True).order_by("pk"):
        results[connector.pk] = connector_run(connector=connector)
    return results
