"""django-q2 entry points: thin, safe to run twice and to overlap."""

from plans.billing import run_billing as _run_billing


def run_billing() -> dict:
    # Bounded so that a run ends well inside the cluster's task timeout; the next tick goes on.
    return _run_billing(max_seconds=240)
