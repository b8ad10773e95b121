"""Gateway health from the gateway's own answers: a call left unanswered (a timeout, a 5xx, an
outage drill) sends new cards and first payments to a backup for GATEWAY_FAILOVER_SECONDS; the
next answered call after that makes the account primary again. Declines are answers."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.kernel.audit import audit_record
from integrations.kernel.errors import Unprocessable
from integrations.services import event_emit
from payments.gateways.registry import gateway_class
from payments.models import GatewayAccount
from payments.representations import gateway_account_repr


def gateway_unanswered(*, account: GatewayAccount, message: str) -> None:
    now = timezone.now()
    until = now + timedelta(seconds=settings.GATEWAY_FAILOVER_SECONDS)
    GatewayAccount.objects.filter(pk=account.pk).update(
        unanswered=F("unanswered") + 1, last_unanswered_at=now, last_unanswered=message[:200], unavailable_until=until
    )
    account.unavailable_until = until


def gateway_answered(*, account: GatewayAccount) -> None:
    """Written only when the account was marked: a healthy gateway costs no statement."""
    if account.unanswered or account.unavailable_until is not None:
        GatewayAccount.objects.filter(pk=account.pk).update(unanswered=0, unavailable_until=None)
        account.unanswered, account.unavailable_until = 0, None


@transaction.atomic
def gateway_health_reset(*, account: GatewayAccount) -> None:
    """The operator says it is answering again (admin): new cards go to it at once."""
    GatewayAccount.objects.filter(pk=account.pk).update(unanswered=0, unavailable_until=None)
    audit_record(action="gateway_account.health_reset", object_type="gateway_account", object_id=account.pk)


@transaction.atomic
def gateway_outage_drill(*, account: GatewayAccount, on: bool) -> GatewayAccount:
    """Start or end an outage drill on a gateway that can play one (the sandbox): while it is on,
    the gateway answers nothing, so failover to the region's backup can be rehearsed for real."""
    if not gateway_class(account).supports_outage_drill:
        raise Unprocessable(
            f"The {account.provider} gateway cannot play an outage; only the sandbox can.",
            code="outage_drill_unsupported",
        )
    account = GatewayAccount.objects.select_for_update().get(pk=account.pk)
    if account.outage_drill == on:
        return account
    account.outage_drill = on
    account.save(update_fields=["outage_drill", "updated_at"])
    audit_record(
        action="gateway_account.outage_drill",
        object_type="gateway_account",
        object_id=account.pk,
        changes={"outage_drill": [not on, on]},
    )
    event_emit(type="gateway_account.updated", payload={"gateway_account": gateway_account_repr(account)})
    return account


def gateway_health(account: GatewayAccount, now=None) -> str:
    """How the account is doing, in words for the admin."""
    now = now or timezone.now()
    state = []
    if account.outage_drill:
        state.append("outage drill on")
    if account.unavailable(now):
        state.append(
            f"not answering: new cards go to a backup until {account.unavailable_until:%Y-%m-%d %H:%M:%S} UTC "
            f"({account.unanswered} unanswered in a row; last: {account.last_unanswered or 'no detail'})"
        )
    elif account.unanswered:
        state.append(f"{account.unanswered} unanswered in a row; tried again for new cards")
    return "; ".join(state) or "answering"
