"""Connectors' reads."""

from django.db.models import Min, Q

from integrations.models import Connector


def connectors_cursor_floor() -> int | None:
    """For the outbox's retention purge: every event with a seq up to this one has been handled by
    every connector that will read on (enabled, or disabled with a cursor it resumes from); None =
    no connector holds any event back. An enabled connector that has handled nothing yet holds back
    all of them (it reads from the start: 0); one never enabled holds back none (it starts from
    what is left)."""
    reading_on = Connector.objects.filter(Q(enabled=True) | Q(cursor_seq__gt=0))
    return reading_on.aggregate(floor=Min("cursor_seq"))["floor"]
