"""Webhook endpoints and their deliveries (integrations' tables; integrations/models.py re-exports them)."""

from django.db import models
from django.db.models import Q

from integrations.kernel.encryption import EncryptedJSONField
from integrations.kernel.ids import ExactCharField, PrefixedIdField


class WebhookEndpoint(models.Model):
    class Status(models.TextChoices):
        ENABLED = "enabled"
        DISABLED = "disabled"

    id = PrefixedIdField(prefix="whe")
    url = models.URLField(max_length=2048)
    # ["*"], or event types ("payment.succeeded") and resource patterns ("subscription.*").
    enabled_events = models.JSONField(default=list)
    description = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ENABLED)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    # {"current": "whsec_...", "previous": "whsec_...", "previous_expires_at": ISO 8601} (the last two
    # after a rotation). The name says "secret" so the audit log records only that it changed.
    signing_secret = EncryptedJSONField(default=dict)
    # Since when every attempt has failed (null once one succeeds): 5 days of it disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "integrations"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["enabled", "disabled"]), name="webhook_endpoint_status"),
        ]

    def __str__(self):
        return f"{self.id} {self.url}"


class WebhookDelivery(models.Model):
    """One event for one endpoint: its attempts so far, when the next is due, the last answer."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # dead: the last retry failed, or the endpoint answered 410

    id = PrefixedIdField(prefix="whd")
    event = models.ForeignKey("integrations.Event", on_delete=models.CASCADE, related_name="+")
    # Deleting an endpoint deletes its queued deliveries: they stop.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt = models.PositiveIntegerField(default=0)  # attempts made so far
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A sender's claim: until then nobody else sends it; past it (the sender died), it is due again.
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = ExactCharField(max_length=32, blank=True, default="")
    response_status = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")  # the first KiB of the last answer
    last_error = models.CharField(max_length=200, blank=True, default="")  # timeout, redirect, url_not_allowed...
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "integrations"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once_per_endpoint"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]), name="webhook_delivery_status"
            ),
        ]
        indexes = [
            # What is due: pending rows by time (the sender's only scan).
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self):
        return f"{self.id} {self.status}"
