"""The scheduled work, declared in code; `manage.py setup_schedules` upserts it into django-q2."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduledTask:
    name: str
    func: str
    minutes: int


SCHEDULES = [
    ScheduledTask("purge-idempotency-keys", "integrations.tasks.idempotency_keys_purge", minutes=60),
    ScheduledTask("purge-events", "integrations.tasks.events_purge", minutes=60),
    ScheduledTask("purge-audit-events", "integrations.tasks.audit_events_purge", minutes=1440),
    ScheduledTask("purge-customer-tokens", "payments.tasks.customer_tokens_purge", minutes=360),
    ScheduledTask("reconcile-payments", "payments.tasks.payments_reconcile", minutes=5),
    ScheduledTask("reconcile-refunds", "payments.tasks.refunds_reconcile", minutes=15),
    ScheduledTask("sandbox-payouts", "payments.tasks.payouts_create_sandbox", minutes=60),
    ScheduledTask("release-gateway-cards", "payments.tasks.gateway_cards_release_pending", minutes=60),
    ScheduledTask("recheck-tax-ids", "payments.tasks.customer_tax_ids_recheck", minutes=1440),
    ScheduledTask("run-billing", "plans.tasks.run_billing", minutes=5),
    # Emails whose task was lost (a worker killed with it) or failed; and the outbox's retention.
    ScheduledTask("send-unsent-emails", "plans.tasks.emails_unsent_send", minutes=1),
    ScheduledTask("purge-emails", "plans.tasks.emails_purge", minutes=1440),
    ScheduledTask("resume-code-generations", "coupons.tasks.code_generations_resume_task", minutes=5),
    # The metrics' daily snapshot rows: yesterday's final and today's so far, so hourly.
    ScheduledTask("write-metric-snapshots", "plans.tasks.metric_snapshots_write", minutes=60),
    ScheduledTask("run-connectors", "integrations.tasks.connectors_run", minutes=1),
    ScheduledTask("send-webhooks", "integrations.tasks.webhook_deliveries_send_due", minutes=1),
]
