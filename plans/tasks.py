"""django-q2 entry points: thin, safe to run twice and to overlap."""

from plans.billing import run_billing as _run_billing
from plans.services.snapshots import metric_snapshots_refresh


def run_billing() -> dict:
    # Bounded so that a run ends well inside the cluster's task timeout; the next tick goes on.
    return _run_billing(max_seconds=240)


def metric_snapshots_write() -> int:
    # Yesterday's rows (final) and today's so far; upserts, so a rerun or an overlap is harmless.
    return metric_snapshots_refresh()
