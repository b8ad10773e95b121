"""The event outbox: what happened, written in the same transaction as the change itself."""

from django.db import models

from integrations.connectors.models import ConnectorToken  # noqa: F401  (this app's table too)
from integrations.kernel.encryption import EncryptedJSONField
from integrations.kernel.ids import PrefixedIdField
from integrations.kernel.models import ApiKey, AuditEvent, IdempotencyKey  # noqa: F401  (the kernel's tables are this app's)
from integrations.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: F401  (this app's tables too)


class Event(models.Model):
    id = PrefixedIdField(prefix="evt")
    type = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # A reference, not a foreign key: integrations know no domain model.
    customer_id = models.CharField(max_length=40, blank=True, db_index=True)
    payload = models.JSONField()
    # Who caused it (the audit context when it was written): user, api_key or system; empty = a
    # customer, a gateway or nobody in particular.
    actor_type = models.CharField(max_length=10, blank=True, db_default="", default="")
    actor_id = models.CharField(max_length=64, blank=True, db_default="", default="")
    actor_name = models.CharField(max_length=150, blank=True, db_default="", default="")
    # The order the events were written in, for the outbox's readers (connectors), filled by the
    # database (integrations/event_order.py), never by us; 0 in memory until read back on SQLite.
    # created_at cannot order them: a batch's events share it, and their ids' tails are random.
    seq = models.BigIntegerField(db_default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["seq"], name="event_seq")]

    def __str__(self):
        return f"{self.id} {self.type}"


class Connector(models.Model):
    """A further reader of the outbox (integrations/connectors/): its own cursor over the events,
    its vendor's credentials, and its health as the admin shows it."""

    class Kind(models.TextChoices):
        HUBSPOT = "hubspot", "HubSpot (CRM)"
        ZENDESK = "zendesk", "Zendesk (support)"
        XERO = "xero", "Xero (accounting)"
        MAILCHIMP = "mailchimp", "Mailchimp (marketing)"

    class Health(models.TextChoices):
        OK = "ok"
        FAILING = "failing"
        DISABLED = "disabled"

    id = PrefixedIdField(prefix="con")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=False)
    credentials = EncryptedJSONField(blank=True, default=dict)
    settings = models.JSONField(blank=True, default=dict)
    # The last event handled (its seq; 0 = before the first event), and its id and time to show.
    cursor_seq = models.BigIntegerField(default=0)
    cursor_created_at = models.DateTimeField(null=True, blank=True)
    cursor_event_id = models.CharField(max_length=40, blank=True, default="")
    status = models.CharField(max_length=10, choices=Health.choices, default=Health.DISABLED)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    events_handled = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} ({self.kind})"


class ConnectorRecord(models.Model):
    """One of our objects as a connector knows it: the vendor's id for it (so updates hit the same
    record) and the small state the connector keeps from the events it has seen."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="records")
    object_type = models.CharField(max_length=40)  # "customer", "plan", ...
    object_id = models.CharField(max_length=40)  # our id: cus_..., pln_...
    external_id = models.CharField(max_length=100, blank=True, default="")
    state = models.JSONField(blank=True, default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "object_type", "object_id"], name="connector_record_unique_object"
            )
        ]

    def __str__(self):
        return f"{self.object_type} {self.object_id} -> {self.external_id or '?'}"
