"""The sender: claims due deliveries (SELECT ... FOR UPDATE SKIP LOCKED, with a lease), POSTs each
signed event, records the answer and schedules the retry. Any number of senders may run at once;
each endpoint has at most WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT deliveries in flight across all of them,
and each sender at most WEBHOOKS_MAX_IN_FLIGHT, so a slow endpoint only ever holds its own few."""

import json
import logging
import random
import secrets
import socket
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.kernel.errors import InvalidRequest
from integrations.kernel.representation import datetime_repr
from integrations.webhooks.destinations import destination_resolve
from integrations.webhooks.models import WebhookDelivery, WebhookEndpoint
from integrations.webhooks.services import signing_secrets, webhook_endpoint_disable
from integrations.webhooks.signing import signature_header

logger = logging.getLogger("integrations.webhooks")

# Standard Webhooks' schedule: the wait after each failed attempt; dead after the last.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.10
FAILING_DISABLES_AFTER = timedelta(days=5)
RESPONSE_KEPT_BYTES = 1024
USER_AGENT = "MediaManagerPayments-Webhooks/1"


def retry_delay(attempt: int) -> timedelta | None:
    """The wait after failed attempt number `attempt` (1-based), ±10%; None when it was the last."""
    if attempt >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[attempt - 1].total_seconds()
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))  # noqa: S311  (jitter, not a secret)


# A sender claims up to this many rounds of an endpoint's share at once (its queue), and sends them
# WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT at a time: one claim per round would cost more than the sends.
CLAIM_DEPTH = 8


def _lease() -> timedelta:
    # Long enough for the whole queue to time out in turn, with room to record: a sender that died
    # is replaced after it.
    return timedelta(seconds=settings.WEBHOOKS_TIMEOUT_SECONDS * (CLAIM_DEPTH + 1) + 30)


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    lease_token: str
    endpoint_id: str
    url: str
    msg_id: str
    body: bytes
    secrets: tuple[str, ...]
    endpoint_failing: bool = False  # when claimed: a success then clears the endpoint's failure clock


@dataclass(frozen=True)
class Answer:
    status: int | None
    duration_ms: int
    body: str
    error: str  # "" when an HTTP answer came back


def event_body(event) -> bytes:
    """What every endpoint receives: {id, type, created_at, data}, compact JSON."""
    message = {"id": event.id, "type": event.type, "created_at": datetime_repr(event.created_at), "data": event.payload}
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def _due(now: datetime):
    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    )


def endpoints_due(*, endpoint_ids=None, now: datetime | None = None) -> list[str]:
    """Enabled endpoints with a delivery due and not leased, in a fair (shuffled) order."""
    due = _due(now or timezone.now()).filter(endpoint__status=WebhookEndpoint.Status.ENABLED)
    if endpoint_ids is not None:
        due = due.filter(endpoint_id__in=list(endpoint_ids))
    endpoints = list(due.order_by().values_list("endpoint_id", flat=True).distinct()[:500])
    random.shuffle(endpoints)  # fairness between endpoints
    return endpoints


def endpoint_claim(*, endpoint_id: str, room: int, now: datetime | None = None) -> list[Claimed]:
    """Up to `room` of one endpoint's due deliveries, bounded by what is leased for it across all
    senders (CLAIM_DEPTH rounds of its in-flight share): the endpoint row is locked (SKIP LOCKED)
    while that is counted and taken, so two senders never both fill it. Empty when another sender
    holds it, or nothing is due."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update(skip_locked=True)
            .filter(pk=endpoint_id, status=WebhookEndpoint.Status.ENABLED)
            .first()
        )
        if endpoint is None:
            return []  # another sender is claiming for it, or it was disabled or deleted
        busy = WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id, status=WebhookDelivery.Status.PENDING, leased_until__gte=now
        ).count()
        take = min(settings.WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT * CLAIM_DEPTH - busy, room)
        if take <= 0:
            return []
        rows = list(
            _due(now)
            .filter(endpoint_id=endpoint_id)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            .order_by("next_attempt_at", "id")[:take]
        )
        if not rows:
            return []
        token = secrets.token_hex(8)
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            leased_until=now + _lease(), lease_token=token
        )
        keys = tuple(signing_secrets(endpoint, now=now))
        failing = endpoint.failing_since is not None
        return [
            Claimed(row.pk, token, endpoint_id, endpoint.url, row.event_id, event_body(row.event), keys, failing)
            for row in rows
        ]


def deliveries_claim(*, room: int, endpoint_ids=None, now: datetime | None = None) -> list[Claimed]:
    """Up to `room` due deliveries over every endpoint that has some, each within its share."""
    now = now or timezone.now()
    claimed: list[Claimed] = []
    for endpoint_id in endpoints_due(endpoint_ids=endpoint_ids, now=now):
        if len(claimed) >= room:
            break
        claimed += endpoint_claim(endpoint_id=endpoint_id, room=room - len(claimed), now=now)
    return claimed


def delivery_post(claimed: Claimed, *, client: httpx.Client) -> Answer:
    """One attempt over HTTP: the URL checked again and the connection made to the address checked
    (a DNS answer that changed after the check cannot redirect it), redirects not followed."""
    started = time.monotonic()
    try:
        destination = destination_resolve(claimed.url)
    except InvalidRequest as refused:
        return Answer(None, 0, "", f"url_not_allowed: {refused.message}"[:200])
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claimed.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            secrets_=list(claimed.secrets), msg_id=claimed.msg_id, timestamp=timestamp, body=claimed.body
        ),
    }
    url = httpx.URL(claimed.url)
    pinned = url.copy_with(host=destination.address)
    headers["host"] = url.netloc.decode("ascii")
    try:
        request = client.build_request(
            "POST", pinned, content=claimed.body, headers=headers, extensions={"sni_hostname": destination.host}
        )
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            kept = b""
            for chunk in response.iter_raw():
                kept += chunk
                if len(kept) >= RESPONSE_KEPT_BYTES:
                    break
        finally:
            response.close()
    except httpx.TimeoutException:
        return Answer(None, _ms(started), "", "timeout")
    except httpx.HTTPError as error:
        return Answer(None, _ms(started), "", f"connection: {type(error).__name__}"[:200])
    text = kept[:RESPONSE_KEPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "")
    error = "redirect" if 300 <= response.status_code < 400 else ""
    return Answer(response.status_code, _ms(started), text, error)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def delivery_record(claimed: Claimed, answer: Answer, *, now: datetime | None = None) -> str | None:
    """The attempt's outcome written, if this sender still holds the lease (a deleted endpoint's
    delivery is gone: nothing to write). Answers the delivery's status, or None."""
    now = now or timezone.now()
    if answer.status is not None and 200 <= answer.status < 300 and not claimed.endpoint_failing:
        # The common case in one statement: no lock to take, no endpoint to touch.
        done = WebhookDelivery.objects.filter(pk=claimed.delivery_id, lease_token=claimed.lease_token).update(
            status=WebhookDelivery.Status.SUCCEEDED,
            attempt=F("attempt") + 1,
            last_attempt_at=now,
            response_status=answer.status,
            duration_ms=answer.duration_ms,
            response_body=answer.body,
            last_error="",
            leased_until=None,
            lease_token="",
            next_attempt_at=None,
        )
        return WebhookDelivery.Status.SUCCEEDED if done else None
    disable_reason = None
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=claimed.delivery_id, lease_token=claimed.lease_token)
            .first()
        )
        if delivery is None:
            return None
        delivery.attempt += 1
        delivery.last_attempt_at = now
        delivery.response_status = answer.status
        delivery.duration_ms = answer.duration_ms
        delivery.response_body = answer.body
        delivery.last_error = answer.error
        delivery.leased_until = None
        delivery.lease_token = ""
        succeeded = answer.status is not None and 200 <= answer.status < 300
        endpoints = WebhookEndpoint.objects.filter(pk=claimed.endpoint_id)
        if succeeded:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.next_attempt_at = None
            endpoints.filter(failing_since__isnull=False).update(failing_since=None)
        elif answer.status == 410:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            disable_reason = "The receiver answered 410 Gone."
        else:
            delay = retry_delay(delivery.attempt)
            if delay is None:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.next_attempt_at = None
            else:
                delivery.next_attempt_at = now + delay
            endpoints.filter(failing_since__isnull=True).update(failing_since=now)
            if endpoints.filter(failing_since__lte=now - FAILING_DISABLES_AFTER).exists():
                disable_reason = f"Every delivery failed for {FAILING_DISABLES_AFTER.days} days."
        delivery.save(
            update_fields=[
                "attempt",
                "last_attempt_at",
                "response_status",
                "duration_ms",
                "response_body",
                "last_error",
                "leased_until",
                "lease_token",
                "status",
                "next_attempt_at",
            ]
        )
        if disable_reason:
            webhook_endpoint_disable(endpoint_id=claimed.endpoint_id, reason=disable_reason)
    return delivery.status


def _still_sending_to(endpoint_id: str) -> bool:
    return WebhookEndpoint.objects.filter(pk=endpoint_id, status=WebhookEndpoint.Status.ENABLED).exists()


def webhook_deliveries_send(*, endpoint_ids=None, budget_seconds: float | None = None) -> int:
    """Send what is due until nothing is, or until `budget_seconds` have passed (then finish what is
    in flight). As each attempt ends, more is claimed: a slow endpoint holds its own slots only.
    Answers how many attempts were made."""
    budget = settings.WEBHOOKS_SEND_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    cap = settings.WEBHOOKS_MAX_IN_FLIGHT
    timeout = httpx.Timeout(settings.WEBHOOKS_TIMEOUT_SECONDS)
    per_endpoint = settings.WEBHOOKS_ENDPOINT_MAX_IN_FLIGHT
    # No Nagle: a request's headers and body go out as separate writes, and waiting for the ACK of
    # the first (delayed by the receiver) would add 40 ms to every delivery.
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=cap), socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    attempts = 0
    in_flight: dict = {}
    busy: dict[str, int] = {}  # this sender's deliveries in flight, per endpoint
    queued: dict[str, deque] = {}  # claimed (leased) and not sent yet, per endpoint
    due: list[str] = []
    scanned = 0.0
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client,
        ThreadPoolExecutor(max_workers=cap, thread_name_prefix="webhook") as pool,
    ):
        while True:
            claiming = time.monotonic() < deadline
            # Which endpoints have work: asked again at most twice a second (it reads the due index).
            if claiming and len(in_flight) < cap and time.monotonic() - scanned > 0.5:
                due, scanned = endpoints_due(endpoint_ids=endpoint_ids), time.monotonic()
            for endpoint_id in list(due) if claiming else ():
                if queued.get(endpoint_id):
                    continue
                taken = endpoint_claim(endpoint_id=endpoint_id, room=per_endpoint * CLAIM_DEPTH)
                if taken:
                    queued[endpoint_id] = deque(taken)
                else:
                    due.remove(endpoint_id)  # nothing left, or another sender holds it: the next scan says
            # Send from each endpoint's queue within its share and the sender's cap.
            for endpoint_id, waiting in queued.items():
                while waiting and len(in_flight) < cap and busy.get(endpoint_id, 0) < per_endpoint:
                    claimed = waiting.popleft()
                    in_flight[pool.submit(delivery_post, claimed, client=client)] = claimed
                    busy[endpoint_id] = busy.get(endpoint_id, 0) + 1
            if not in_flight:
                if claiming and due:
                    continue
                break
            # Wake at least twice a second to claim what fell due meanwhile.
            done, _ = wait(in_flight, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                claimed = in_flight.pop(future)
                busy[claimed.endpoint_id] -= 1
                try:
                    answer = future.result()
                except Exception as error:  # a bug in the sender must not lose the lease's delivery
                    logger.exception("Webhook delivery %s crashed", claimed.delivery_id)
                    answer = Answer(None, 0, "", f"sender error: {type(error).__name__}")
                outcome = delivery_record(claimed, answer)
                attempts += 1
                if outcome != WebhookDelivery.Status.SUCCEEDED and not _still_sending_to(claimed.endpoint_id):
                    queued.pop(claimed.endpoint_id, None)  # disabled (410, days of failures) or deleted: stop
    return attempts
