"""Gateway health from the gateway's own answers: a call left unanswered (a timeout, a 5xx, an
outage drill) sends new cards and first payments to a backup for GATEWAY_FAILOVER_SECONDS; the
next answered call after that makes the account primary again. Declines are answers."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from payments.models import GatewayAccount


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


def gateway_health_reset(*, account: GatewayAccount) -> None:
    """The operator says it is answering again (admin)."""
    GatewayAccount.objects.filter(pk=account.pk).update(unanswered=0, unavailable_until=None)
