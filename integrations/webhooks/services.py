"""Writes for webhook endpoints and their deliveries: create, change, rotate the secret, delete,
disable (by the sender), redeliver an event and replay dead deliveries."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mail_admins, send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.kernel.errors import Conflict, InvalidRequest
from integrations.models import Event
from integrations.webhooks.destinations import destination_resolve
from integrations.webhooks.event_types import enabled_events_normalize, event_matches
from integrations.webhooks.fanout import _send_after_commit
from integrations.webhooks.models import WebhookDelivery, WebhookEndpoint
from integrations.webhooks.representations import webhook_endpoint_repr
from integrations.webhooks.signing import secret_new

logger = logging.getLogger("integrations.webhooks")

ROTATION_OVERLAP = timedelta(hours=24)
_UNSET = object()
_DESCRIPTION_MAX = WebhookEndpoint._meta.get_field("description").max_length


def _description(value) -> str:
    if not isinstance(value, str) or len(value) > _DESCRIPTION_MAX:
        raise InvalidRequest(
            f"description is text of at most {_DESCRIPTION_MAX} characters.",
            code="parameter_invalid",
            param="description",
        )
    return value.strip()


def webhook_endpoint_check(*, url, enabled_events) -> tuple[str, list[str]]:
    """The URL (guarded against private networks) and the event filters, as they will be stored."""
    destination_resolve(url)
    return url, enabled_events_normalize(enabled_events)


def webhook_endpoint_create(*, url: str, enabled_events=("*",), description: str = "") -> tuple[str, WebhookEndpoint]:
    """A new endpoint and its secret, returned once (it is kept encrypted, never shown again)."""
    url, filters = webhook_endpoint_check(url=url, enabled_events=list(enabled_events))
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(
        url=url, enabled_events=filters, description=_description(description), signing_secret={"current": secret}
    )
    return secret, endpoint


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url=_UNSET, enabled_events=_UNSET, description=_UNSET, status=_UNSET
) -> WebhookEndpoint:
    """Only what is given changes. Enabling clears the reason and the failure clock; its pending
    deliveries are then sent as they fall due."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    fields = []
    if url is not _UNSET:
        destination_resolve(url)
        endpoint.url = url
        fields.append("url")
    if enabled_events is not _UNSET:
        endpoint.enabled_events = enabled_events_normalize(enabled_events)
        fields.append("enabled_events")
    if description is not _UNSET:
        endpoint.description = _description(description)
        fields.append("description")
    if status is not _UNSET:
        if status not in WebhookEndpoint.Status.values:
            raise InvalidRequest("status is enabled or disabled.", code="parameter_invalid", param="status")
        if status != endpoint.status:
            endpoint.status = status
            endpoint.disabled_reason = "" if status == WebhookEndpoint.Status.ENABLED else "Disabled by an operator."
            endpoint.failing_since = None
            fields += ["status", "disabled_reason", "failing_since"]
    if fields:
        endpoint.save(update_fields=[*fields, "updated_at"])
    if "status" in fields and endpoint.status == WebhookEndpoint.Status.ENABLED:
        _send_after_commit({endpoint.pk})
    return endpoint


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    """The secrets that sign now: the current one, and the previous one for 24 h after a rotation."""
    stored = endpoint.signing_secret or {}
    found = [stored["current"]] if stored.get("current") else []
    expires = parse_datetime(stored.get("previous_expires_at") or "")
    if stored.get("previous") and expires is not None and expires > (now or timezone.now()):
        found.append(stored["previous"])
    return found


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    """A new secret, returned once; the one it replaces keeps signing beside it for 24 hours."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = secret_new()
    endpoint.signing_secret = {
        "current": secret,
        "previous": (endpoint.signing_secret or {}).get("current", ""),
        "previous_expires_at": (timezone.now() + ROTATION_OVERLAP).isoformat(),
    }
    endpoint.save(update_fields=["signing_secret", "updated_at"])
    return secret


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Deleted with its deliveries: what was queued for it is never sent."""
    current = WebhookEndpoint.objects.filter(pk=endpoint.pk).first()
    if current is not None:  # deleted twice (two operators at once) is harmless
        current.delete()


def _notify_operator(endpoint: dict, reason: str) -> None:
    subject = f"Webhook endpoint {endpoint['id']} disabled"
    body = (
        f"The webhook endpoint {endpoint['id']} ({endpoint['url']}) was disabled: {reason}\n\n"
        "Nothing more is sent to it until it is enabled again (admin, or PATCH status=enabled); "
        "its undelivered events are sent then."
    )
    try:
        if settings.WEBHOOKS_OPERATOR_EMAIL:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [settings.WEBHOOKS_OPERATOR_EMAIL])
        else:
            mail_admins(subject, body)
    except Exception:  # a mail server down must not undo the disabling
        logger.exception("Could not email the operator about %s", endpoint["id"])


@transaction.atomic
def webhook_endpoint_disable(*, endpoint_id: str, reason: str) -> bool:
    """The sender's disabling (410, or failing for days): once, with an event and an email."""
    from integrations.services import event_emit  # the outbox's writer fans out to endpoints: imported late

    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.status == WebhookEndpoint.Status.DISABLED:
        return False
    endpoint.status = WebhookEndpoint.Status.DISABLED
    endpoint.disabled_reason = reason[:200]
    endpoint.save(update_fields=["status", "disabled_reason", "updated_at"])
    shown = webhook_endpoint_repr(endpoint)
    event_emit(type="webhook_endpoint.disabled", payload={"webhook_endpoint": shown})
    transaction.on_commit(lambda: _notify_operator(shown, reason))
    logger.warning("Webhook endpoint %s disabled: %s", endpoint_id, reason)
    return True


def _reset(deliveries) -> int:
    return deliveries.update(
        status=WebhookDelivery.Status.PENDING,
        attempt=0,
        next_attempt_at=timezone.now(),
        leased_until=None,
        lease_token="",
    )


@transaction.atomic
def webhook_event_redeliver(*, event: Event, endpoint: WebhookEndpoint | None = None) -> list[WebhookDelivery]:
    """Send an event again: to one endpoint, or to every endpoint it was meant for (those it has a
    delivery for, else the enabled endpoints whose filters match it now). Same webhook-id as before."""
    if endpoint is not None:
        if endpoint.status != WebhookEndpoint.Status.ENABLED:
            raise Conflict(
                "The endpoint is disabled: enable it first.", code="webhook_endpoint_disabled", param="endpoint"
            )
        targets = [endpoint.pk]
    else:
        targets = list(WebhookDelivery.objects.filter(event=event).values_list("endpoint_id", flat=True))
        if not targets:
            targets = [
                pk
                for pk, filters in WebhookEndpoint.objects.filter(status=WebhookEndpoint.Status.ENABLED).values_list(
                    "id", "enabled_events"
                )
                if event_matches(filters or [], event.type)
            ]
        if not targets:
            raise Conflict("No endpoint is meant to receive this event.", code="no_webhook_endpoint")
    existing = set(
        WebhookDelivery.objects.filter(event=event, endpoint_id__in=targets).values_list("endpoint_id", flat=True)
    )
    _reset(WebhookDelivery.objects.filter(event=event, endpoint_id__in=existing))
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(event=event, endpoint_id=pk, next_attempt_at=timezone.now())
            for pk in targets
            if pk not in existing
        ],
        ignore_conflicts=True,
    )
    _send_after_commit(set(targets))
    return list(WebhookDelivery.objects.filter(event=event, endpoint_id__in=targets).order_by("created_at", "id"))


@transaction.atomic
def webhook_deliveries_replay(*, endpoint: WebhookEndpoint, since: datetime | None = None, delivery_ids=None) -> int:
    """Dead deliveries sent again from the first attempt: one (delivery_ids), or all of an endpoint
    created since a time. Answers how many."""
    dead = WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.FAILED)
    if delivery_ids is not None:
        dead = dead.filter(id__in=list(delivery_ids))
    if since is not None:
        dead = dead.filter(created_at__gte=since)
    count = _reset(dead)
    if count:
        _send_after_commit({endpoint.pk})
    return count
