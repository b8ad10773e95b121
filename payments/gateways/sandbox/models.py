"""The sandbox gateway's own records: what a real gateway would hold on its side. The tables keep
the names they had when these models were payments' (see the migrations).

Only brand, last four, expiry, a keyed fingerprint and the test behaviour are kept, never the number.
"""

from django.db import models

from integrations.kernel.ids import PrefixedIdField


class SandboxCard(models.Model):
    class Behaviour(models.TextChoices):
        SUCCEED = "succeed"
        AUTH_ON_SESSION = "auth_on_session"  # 3-D Secure on the first on-session payment only
        AUTH_ALWAYS = "auth_always"  # 3-D Secure on every payment, renewals included
        DECLINE = "decline"
        INSUFFICIENT_FUNDS = "insufficient_funds"
        LOST_CARD = "lost_card"
        EXPIRED = "expired"
        CHARGE_FAILS = "charge_fails"  # attaches, every charge declined
        PROCESSING_ERROR = "processing_error"  # the answer is lost; the charge goes through

    token = PrefixedIdField(prefix="tok")
    publishable_key = models.CharField(max_length=64, db_index=True)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    fingerprint = models.CharField(max_length=64)
    behaviour = models.CharField(max_length=20, choices=Behaviour.choices)
    country = models.CharField(
        max_length=2, blank=True, help_text="The issuing country of the test card, if it has one."
    )
    mandate = models.BooleanField(default=False, help_text="Set up for off-session use by an authenticated payment.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments_sandboxcard"

    def __str__(self):
        return f"{self.brand} {self.last4}"


class SandboxCharge(models.Model):
    class Status(models.TextChoices):
        REQUIRES_ACTION = "requires_action"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = PrefixedIdField(prefix="ch")
    card = models.ForeignKey(SandboxCard, on_delete=models.PROTECT)
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(max_digits=19, decimal_places=4)
    currency = models.CharField(max_length=3)
    off_session = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices)
    decline_code = models.CharField(max_length=50, blank=True)
    return_url = models.CharField(max_length=500, blank=True)
    amount_refunded = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments_sandboxcharge"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_refunded__lte=models.F("amount")), name="sandbox_refunds_within_amount"
            )
        ]

    def __str__(self):
        return f"{self.id} {self.status}"

    @property
    def money(self):
        from moneyed import Money

        return Money(self.amount, self.currency)


class SandboxRefund(models.Model):
    id = PrefixedIdField(prefix="re")
    charge = models.ForeignKey(SandboxCharge, on_delete=models.PROTECT, related_name="refunds")
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(max_digits=19, decimal_places=4)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments_sandboxrefund"

    def __str__(self):
        return self.id
