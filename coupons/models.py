"""Coupon campaigns, their codes, redemptions and the discounts they give."""

from django.db import models
from django.db.models import F, Q
from djmoney.models.fields import MoneyField

from integrations.kernel.ids import ExactCharField, PrefixedIdField


class Coupon(models.Model):
    class Kind(models.TextChoices):
        SINGLE_CODE = "single_code"
        BULK = "bulk"

    class DiscountType(models.TextChoices):
        PERCENT = "percent"
        AMOUNT = "amount"
        FREE_TRIAL = "free_trial"

    class Duration(models.TextChoices):
        ONCE = "once"
        REPEATING = "repeating"
        FOREVER = "forever"

    class Target(models.TextChoices):
        ACCOUNT = "account"
        SUBSCRIPTION = "subscription"

    class TrialUnit(models.TextChoices):
        DAY = "day"
        WEEK = "week"
        MONTH = "month"

    id = PrefixedIdField(prefix="cpn")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=11, choices=Kind.choices)
    code_template = models.CharField(max_length=64, blank=True, help_text="Bulk codes: e.g. SPRING-********")
    discount_type = models.CharField(max_length=10, choices=DiscountType.choices)
    percent_off = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    trial_length = models.PositiveSmallIntegerField(null=True, blank=True)
    trial_unit = models.CharField(max_length=5, choices=TrialUnit.choices, blank=True)
    duration = models.CharField(max_length=9, choices=Duration.choices, default=Duration.ONCE)
    duration_cycles = models.PositiveSmallIntegerField(null=True, blank=True)
    applies_to_plans = models.ManyToManyField("plans.Plan", blank=True, related_name="coupons")
    redemption_target = models.CharField(max_length=12, choices=Target.choices, default=Target.SUBSCRIPTION)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    max_redemptions_per_customer = models.PositiveIntegerField(default=1)
    redeem_by = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True, help_text="Set when the campaign was expired.")
    times_redeemed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent_off__isnull=True) | (Q(percent_off__gt=0) & Q(percent_off__lte=100)),
                name="coupon_percent_range",
            ),
            # The last word on the campaign limit, whatever races above it.
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(times_redeemed__lte=F("max_redemptions")),
                name="coupon_within_max_redemptions",
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions_per_customer__gte=1), name="coupon_per_customer_positive"
            ),
        ]

    def __str__(self):
        return self.name


class CouponAmount(models.Model):
    """An amount-off coupon's discount in one currency."""

    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="amounts")
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["coupon", "amount_currency"], name="coupon_amount_one_per_currency"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="coupon_amount_positive"),
        ]

    def __str__(self):
        return str(self.amount)


class CouponCode(models.Model):
    """A code customers type. A single-code campaign has one shared row; a bulk campaign one row per
    single-use code. Codes are stored upper-case, so uniqueness is case-insensitive across campaigns."""

    class State(models.TextChoices):
        REDEEMABLE = "redeemable"
        REDEEMED = "redeemed"
        EXPIRED = "expired"

    id = PrefixedIdField(prefix="code")
    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="codes")
    code = ExactCharField(max_length=64, unique=True)
    shared = models.BooleanField(default=False, help_text="The one code of a single-code campaign.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.REDEEMABLE)
    redeemed_by = models.ForeignKey(
        "payments.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    redeemed_at = models.DateTimeField(null=True, blank=True)
    subscription_id = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["coupon", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(code=models.functions.Upper("code")), name="coupon_code_upper")
        ]
        # Only redeemed codes have a customer: generated codes (a million at a time) skip this index.
        indexes = [
            models.Index(fields=["redeemed_by"], condition=Q(redeemed_by__isnull=False), name="coupon_code_redeemed_by")
        ]

    def __str__(self):
        return self.code


class Redemption(models.Model):
    """One use of a campaign by a customer. (coupon, customer, sequence) is unique and sequence is
    at most the per-customer limit: the database has the last word on both. Outside (the
    coupon.redeemed event) it is known by `public_id` (red_...), never by its number or its code."""

    public_id = PrefixedIdField(prefix="red", primary_key=False, unique=True)
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    code = models.ForeignKey(CouponCode, on_delete=models.PROTECT, related_name="redemptions")
    customer = models.ForeignKey("payments.Customer", on_delete=models.PROTECT, related_name="coupon_redemptions")
    sequence = models.PositiveIntegerField()
    subscription_id = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["coupon", "customer", "sequence"], name="redemption_once_per_sequence"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="redemption_sequence_positive"),
        ]
        indexes = [models.Index(fields=["created_at"], name="redemption_created_at")]  # a day's, for the figures

    def __str__(self):
        return f"{self.code} by {self.customer_id}"


class Discount(models.Model):
    """What a redemption gives: on the account (every invoice) or one subscription, for the cycles
    it has left (null = forever). The billing engine consumes it."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="discounts")
    redemption = models.OneToOneField(Redemption, on_delete=models.PROTECT, related_name="discount")
    customer = models.ForeignKey("payments.Customer", on_delete=models.PROTECT, related_name="discounts")
    subscription_id = models.CharField(max_length=40, blank=True, help_text="Empty: the whole account.")
    cycles_remaining = models.PositiveSmallIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "active"], name="discount_customer_active")]

    def __str__(self):
        return f"{self.coupon} for {self.customer_id}"


class DiscountGiven(models.Model):
    """What one redemption took off one invoice, recorded when the invoice is made: a subscription's
    and its account's coupon can share an invoice, each with its part. The campaign figures count
    these (those of invoices paid), so each coupon is credited with exactly what it gave."""

    invoice = models.ForeignKey("payments.Invoice", on_delete=models.CASCADE, related_name="coupon_discounts")
    redemption = models.ForeignKey(Redemption, on_delete=models.PROTECT, related_name="discounts_given")
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="discounts_given")
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["invoice", "redemption"], name="discount_given_once")]

    def __str__(self):
        return f"{self.amount} off {self.invoice_id} by {self.coupon_id}"


class CodeGeneration(models.Model):
    """A large code generation run by the django-q2 worker, batch by batch: its progress is what
    the admin and `GET /coupons/{id}/code-generations/{cgn_id}` show, and a rerun of the task
    resumes from `generated`. The API knows it by `public_id` (cgn_...); the task by its number."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    public_id = PrefixedIdField(prefix="cgn", primary_key=False, unique=True)
    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="generations")
    requested = models.PositiveIntegerField()
    generated = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(generated__lte=F("requested")), name="generation_within_request")
        ]

    def __str__(self):
        return f"{self.public_id}: {self.generated:,} / {self.requested:,} ({self.status})"
