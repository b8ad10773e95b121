"""The event outbox: what happened, written in the same transaction as the change itself."""

from django.db import models

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

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.id} {self.type}"
