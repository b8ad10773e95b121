import time
from datetime import UTC

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from integrations.kernel.commands import AuditedCommand
from integrations.kernel.startup import refuse_to_start
from plans.billing import run_billing


class Command(AuditedCommand):
    help = (
        "Do every piece of due billing work, as the scheduled task does (safe to run several at once). "
        "A line per batch of subscriptions on stderr, with the total and the rate so far; at the end, the "
        "time and rate on stderr and the counts on stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO 8601 time to run at (needs BILLING_ALLOW_TIME_TRAVEL).")
        parser.add_argument("--max-seconds", type=float, default=None, help="Stop claiming new work after this long.")

    def handle(self, *args, as_of=None, max_seconds=None, **options):
        refuse_to_start(CommandError)  # before any work is claimed
        when = None
        if as_of:
            if not settings.BILLING_ALLOW_TIME_TRAVEL:
                raise CommandError("--as-of moves the clock: set BILLING_ALLOW_TIME_TRAVEL=1 (dev and test only).")
            when = parse_datetime(as_of)
            if when is None:
                raise CommandError(f"--as-of: '{as_of}' is not an ISO 8601 time.")
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        started = time.monotonic()
        done = 0

        def progress(claimed, outcomes):
            nonlocal done
            done += claimed
            elapsed = time.monotonic() - started
            self.stderr.write(
                f"batch of {claimed}: {_listed(outcomes)} ({done} billed in {elapsed:.1f} s, {done / max(elapsed, 1e-6):.0f}/s)"
            )

        counts = run_billing(as_of=when, max_seconds=max_seconds, progress=progress)
        elapsed = time.monotonic() - started
        rate = f", {done / elapsed:.0f}/s" if done and elapsed else ""
        self.stderr.write(f"billed {done} subscriptions in {elapsed:.1f} s{rate}")
        self.stdout.write(_listed(counts) or "nothing due")


def _listed(counts) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
