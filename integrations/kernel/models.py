"""The kernel's tables: operators' API keys, the store behind the `Idempotency-Key` header and the
audit log.

They belong to the `integrations` app (its models module imports them) and were `mediamanager`'s
until the kernel took them over (see the migrations of both apps)."""

from django.db import models
from django.utils import timezone

from integrations.kernel.encryption import EncryptedJSONField
from integrations.kernel.ids import PrefixedIdField


class ApiKey(models.Model):
    """An operator's API key. The raw key is shown once; only its SHA-256 is stored."""

    id = PrefixedIdField(prefix="key")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list, help_text='What the key may do (API.md "API key scopes").')
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "integrations"
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyKey(models.Model):
    """The first response to a POST made under an `Idempotency-Key`, replayed for 24 hours."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        DONE = "done"

    credential = models.CharField(max_length=64, help_text="SHA-256 of the credential that sent it.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # In flight: the request holding the key is alive until then; past it, its process died (a
    # request cannot outlive the web server's worker timeout) and a retry takes the key over.
    leased_until = models.DateTimeField(null=True)
    # What the request had made when it died (e.g. the subscription a checkout started), written in
    # the transaction that made it: the retry that takes over resumes it instead of starting anew.
    resource = models.CharField(max_length=40, blank=True)

    class Meta:
        app_label = "integrations"
        constraints = [models.UniqueConstraint(fields=["credential", "key"], name="idempotency_key_unique")]

    def __str__(self):
        return f"{self.key} ({self.state})"


class AuditEvent(models.Model):
    """Who changed what, when, from where, with what outcome: append-only (database triggers refuse
    UPDATE, and DELETE of rows younger than the retention), written only by `audit.audit_record`."""

    class ActorType(models.TextChoices):
        USER = "user"
        API_KEY = "api_key"
        SYSTEM = "system"

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        REFUSED = "refused"

    id = PrefixedIdField(prefix="aud")
    at = models.DateTimeField(default=timezone.now)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_id = models.CharField(
        max_length=64, blank=True, help_text="A user's id, an API key's key_ id; empty for system."
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=100, help_text="e.g. refund.created, staff.signed_in")
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="{field: [before, after]}, secrets left out.")
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCEEDED)

    class Meta:
        app_label = "integrations"
        ordering = ["-at", "-id"]
        verbose_name = "audit event"
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_newest_first"),
            models.Index(fields=["actor_id", "-at"], name="audit_by_actor_id"),
            models.Index(fields=["actor_name", "-at"], name="audit_by_actor_name"),
            models.Index(fields=["action", "-at"], name="audit_by_action"),
            models.Index(fields=["object_id", "-at"], name="audit_by_object"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or self.actor_type} {self.action} {self.object_id}"


class SigningKey(models.Model):
    """An Ed25519 key pair that signs the tokens this server issues (entitlement tokens). The private
    half is encrypted at rest like gateway credentials; the public half is published in the JWKS
    (`/.well-known/jwks.json`) from its creation, and signs from `signs_from` until a newer key
    does. Rotation: integrations.kernel.signing."""

    kid = models.CharField(max_length=40, unique=True)
    private = EncryptedJSONField(help_text="The private key, encrypted with FIELD_ENCRYPTION_KEY.")
    public_x = models.CharField(max_length=64, help_text="The raw public key, base64url (the JWK's x).")
    created_at = models.DateTimeField(default=timezone.now)
    signs_from = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "integrations"
        ordering = ["-signs_from"]

    def __str__(self):
        return self.kid
