"""Connectors' reads."""

from datetime import UTC, datetime

from django.db.models import Min

from integrations.models import Connector


def connectors_cursor_floor() -> datetime | None:
    """For the outbox's retention purge: every event created before this time has been handled by
    every connector that will read on (enabled, or disabled with a cursor it resumes from); None =
    no connector holds any event back. An enabled connector that has handled nothing yet holds back
    all of them (it reads from the start); one never enabled holds back none (it starts from what
    is left)."""
    if Connector.objects.filter(enabled=True, cursor_created_at__isnull=True).exists():
        return datetime.min.replace(tzinfo=UTC)
    return Connector.objects.filter(cursor_created_at__isnull=False).aggregate(floor=Min("cursor_created_at"))["floor"]
