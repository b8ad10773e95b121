"""django-q2 entry points: thin, safe to run twice and to overlap."""

from plans import notifications
from plans.billing import run_billing as _run_billing
from plans.services.snapshots import metric_snapshots_refresh


def run_billing() -> dict:
    # Bounded so that a run ends well inside the cluster's task timeout; the next tick goes on.
    return _run_billing(max_seconds=240)


def metric_snapshots_write() -> int:
    # Yesterday's rows (final) and today's so far; upserts, so a rerun or an overlap is harmless.
    return metric_snapshots_refresh()


def emails_unsent_send(as_of=None) -> int:
    # Each email is held by a row lock while sent: overlapping sweeps and tasks never send one twice.
    return notifications.emails_unsent_send(as_of=as_of)


def emails_purge() -> int:
    return notifications.emails_purge()
