"""The plan catalogue: recurring plans and one-off passes, with one current price per currency."""

from django.db import models
from django.db.models import Q
from djmoney.models.fields import MoneyField

from integrations.kernel.ids import PrefixedIdField


class Plan(models.Model):
    class Kind(models.TextChoices):
        RECURRING = "recurring"
        ONE_OFF = "one_off"

    class Interval(models.TextChoices):
        DAY = "day"
        WEEK = "week"
        MONTH = "month"
        YEAR = "year"

    class TrialUnit(models.TextChoices):
        DAY = "day"
        WEEK = "week"
        MONTH = "month"

    class TaxBehavior(models.TextChoices):
        INCLUSIVE = "inclusive"  # the prices include tax: the customer pays the price
        EXCLUSIVE = "exclusive"  # tax is added to the prices

    class TaxCategory(models.TextChoices):
        # The rate table's categories (payments/tax/rates.csv): a country without a row of a category taxes it
        # at its digital_services rate.
        DIGITAL_SERVICES = "digital_services", "digital services (streaming, video on demand)"
        BROADCASTING = "broadcasting", "broadcasting (linear TV and radio, taxed lower in some countries)"

    class Status(models.TextChoices):
        ACTIVE = "active"
        ARCHIVED = "archived"

    id = PrefixedIdField(prefix="pln")
    code = models.SlugField(max_length=64, unique=True, help_text="A stable name for the plan, e.g. monthly-hd.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    interval = models.CharField(max_length=5, choices=Interval.choices, blank=True)
    interval_count = models.PositiveSmallIntegerField(default=1)
    billing_cycles = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: renews until canceled.")
    access_days = models.PositiveIntegerField(null=True, blank=True, help_text="One-off plans: days of access.")
    trial_length = models.PositiveSmallIntegerField(null=True, blank=True)
    trial_unit = models.CharField(max_length=5, choices=TrialUnit.choices, blank=True)
    trial_requires_payment_method = models.BooleanField(default=True)
    trial_end_without_card = models.CharField(
        max_length=6,
        choices=[("cancel", "cancel"), ("pause", "pause")],
        default="cancel",
        help_text="A cardless trial that ends with no card: cancel the subscription, or pause it until a card comes.",
    )
    tax_behavior = models.CharField(
        max_length=9,
        choices=TaxBehavior.choices,
        default=TaxBehavior.INCLUSIVE,
        help_text="Whether its prices include tax.",
    )
    tax_category = models.CharField(
        max_length=30,
        choices=TaxCategory.choices,
        default=TaxCategory.DIGITAL_SERVICES,
        help_text="What it sells, for its tax rate.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(interval_count__gte=1), name="plan_interval_count_positive"),
            models.CheckConstraint(
                condition=(Q(kind="recurring") & ~Q(interval="") & Q(access_days__isnull=True))
                | (Q(kind="one_off") & Q(interval="") & Q(access_days__gte=1) & Q(billing_cycles__isnull=True)),
                name="plan_kind_terms",
            ),
            models.CheckConstraint(
                condition=Q(billing_cycles__isnull=True) | Q(billing_cycles__gte=1), name="plan_billing_cycles_positive"
            ),
            models.CheckConstraint(
                condition=(Q(trial_length__isnull=True) & Q(trial_unit=""))
                | (Q(trial_length__gte=1) & ~Q(trial_unit="") & Q(kind="recurring")),
                name="plan_trial_terms",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def has_trial(self) -> bool:
        return self.trial_length is not None


class PlanPrice(models.Model):
    """A price in one currency. A change adds a row and retires the old one, which subscribers keep."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["amount_currency", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "amount_currency"],
                condition=Q(is_current=True),
                name="plan_one_current_price_per_currency",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="plan_price_not_negative"),
        ]

    def __str__(self):
        return f"{self.amount}{'' if self.is_current else ' (retired)'}"

    @property
    def currency(self) -> str:
        return self.amount_currency


class Access(models.Model):
    """What a one-off purchase grants: the plan's content for `access_days` once its invoice is paid."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for payment (or 3-D Secure)
        ACTIVE = "active"
        FAILED = "failed"  # payment declined or abandoned: never granted
        REFUNDED = "refunded"  # ended early by a full refund

    id = PrefixedIdField(prefix="acc")
    customer = models.ForeignKey("payments.Customer", on_delete=models.PROTECT, related_name="accesses")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="accesses")
    price = models.ForeignKey(PlanPrice, on_delete=models.PROTECT, related_name="accesses")
    invoice = models.OneToOneField(
        "payments.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="access"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The coupon this purchase used (given back if its payment fails).
    coupon_redemption = models.ForeignKey(
        "coupons.Redemption", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    access_from = models.DateTimeField(null=True, blank=True)
    access_until = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "accesses"
        indexes = [models.Index(fields=["customer", "status", "access_until"], name="access_customer_entitled")]

    def __str__(self):
        return f"{self.plan.code} for {self.customer_id} ({self.status})"


class Subscription(models.Model):
    """A customer's recurring plan. The price (and so the currency) is fixed at signup."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete"  # first payment waiting for 3-D Secure
        INCOMPLETE_EXPIRED = "incomplete_expired"
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        PAUSED = "paused"
        CANCELED = "canceled"
        ENDED = "ended"  # fixed billing cycles done

    class CancelReason(models.TextChoices):
        CUSTOMER = "customer_request"
        OPERATOR = "operator"
        PAYMENT_FAILED = "payment_failed"
        TRIAL_ENDED = "trial_ended_without_payment_method"
        INCOMPLETE = "first_payment_not_completed"
        ERASED = "customer_erased"

    id = PrefixedIdField(prefix="sub")
    customer = models.ForeignKey("payments.Customer", on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    price = models.ForeignKey(PlanPrice, on_delete=models.PROTECT, related_name="subscriptions")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=18, choices=Status.choices)
    payment_method = models.ForeignKey(
        "payments.PaymentMethod",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="subscriptions",
        help_text="The card renewals are charged to; empty = the customer's default card.",
    )
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    trial_start = models.DateTimeField(null=True, blank=True)
    # The plan whose trial was given; unlike `plan`, it never changes, so a trial is given once per plan.
    trial_plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="trial_subscriptions"
    )
    trial_end = models.DateTimeField(null=True, blank=True)
    cycles_billed = models.PositiveIntegerField(default=0, help_text="Paid billing periods so far.")
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=40, choices=CancelReason.choices, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The one column the billing engine scans: when this subscription next needs work.
    next_billing_at = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    retries_done = models.PositiveSmallIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    pending_price = models.ForeignKey(
        PlanPrice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pending_subscriptions",
        help_text="A downgrade that takes effect at the end of the period.",
    )
    move_to_current_price = models.BooleanField(
        default=False, help_text="Operator choice: renew at the plan's current price from the next renewal on."
    )
    price_change_notified_at = models.DateTimeField(null=True, blank=True)
    trial_reminder_sent_at = models.DateTimeField(null=True, blank=True)
    renewal_reminder_for = models.DateTimeField(
        null=True, blank=True, help_text="Period end the last reminder was for."
    )
    source = models.CharField(max_length=10, default="checkout")
    # Its monthly recurring value now (plans.services.mrr, the one rule), in its currency; moved only
    # with an MrrMovement in the same transaction. 0 unless active or past due at a price.
    mrr = models.DecimalField(max_digits=19, decimal_places=4, default=0, db_default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_billing_at"], name="subscription_due", condition=models.Q(next_billing_at__isnull=False)
            ),
            models.Index(fields=["customer", "status"], name="subscription_customer_status"),
        ]
        constraints = [
            # One trial per customer per plan, ever.
            models.UniqueConstraint(
                fields=["customer", "trial_plan"],
                condition=models.Q(trial_plan__isnull=False),
                name="subscription_one_trial_per_plan",
            ),
            # One live subscription per customer and plan (checkout also takes the customer's lock).
            models.UniqueConstraint(
                fields=["customer", "plan"],
                condition=models.Q(status__in=["incomplete", "trialing", "active", "past_due", "paused"]),
                name="subscription_one_live_per_plan",
            ),
        ]

    def __str__(self):
        return f"{self.id} {self.plan.code} ({self.status})"


_S = Subscription.Status
# Watching is allowed in these (past_due only inside the grace period: plans.selectors.is_entitled).
ENTITLED_STATUSES = (_S.TRIALING, _S.ACTIVE, _S.PAST_DUE)
# Not over yet: a customer has at most one of these per plan.
LIVE_STATUSES = (_S.INCOMPLETE, _S.TRIALING, _S.ACTIVE, _S.PAST_DUE, _S.PAUSED)
# The billing engine has work for these when next_billing_at comes.
DUE_STATUSES = (_S.INCOMPLETE, _S.TRIALING, _S.ACTIVE, _S.PAST_DUE)

# A pass's invoice names its access as its source: "access:<id>" (checkout makes it, settlement reads it).
ACCESS_INVOICE_SOURCE = "access:"


class SubscriptionInvoice(models.Model):
    """Which subscription and period an invoice bills: the link the payment hooks follow."""

    class Purpose(models.TextChoices):
        FIRST = "first"
        RENEWAL = "renewal"
        UPGRADE = "upgrade"

    invoice = models.OneToOneField("payments.Invoice", on_delete=models.PROTECT, related_name="subscription_link")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="invoice_links")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    price = models.ForeignKey(PlanPrice, on_delete=models.PROTECT, related_name="+")

    def __str__(self):
        return f"{self.subscription_id} {self.purpose} {self.period_start:%Y-%m-%d}"


class MrrMovement(models.Model):
    """A change of one subscription's monthly recurring value, classified as ChartMogul does for its
    customer: new (their first MRR), expansion, contraction, churn (their MRR gone), reactivation
    (a churned customer paying again). Written by plans.services.mrr in the transaction of the change;
    `amount` is positive, the direction is the kind's. Never edited (a rebuild rewrites the log)."""

    class Kind(models.TextChoices):
        NEW = "new"
        EXPANSION = "expansion"
        CONTRACTION = "contraction"
        CHURN = "churn"
        REACTIVATION = "reactivation"

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="mrr_movements")
    customer = models.ForeignKey("payments.Customer", on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.DecimalField(max_digits=19, decimal_places=4)
    mrr_before = models.DecimalField(max_digits=19, decimal_places=4)
    mrr_after = models.DecimalField(max_digits=19, decimal_places=4)
    from_trial = models.BooleanField(default=False, help_text="A trial's first paid period (a trial converted).")
    occurred_at = models.DateTimeField(
        help_text="When the new value took effect (a churn: the end of the paid period)."
    )
    service_period_start = models.DateTimeField(help_text="Start of the service period the new value is for.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            # The day's movements on top of the last snapshot, and the snapshots' sums per day.
            models.Index(fields=["occurred_at", "currency"], name="mrr_movement_occurred"),
            models.Index(fields=["subscription", "occurred_at"], name="mrr_movement_subscription"),
            models.Index(fields=["customer"], name="mrr_movement_customer"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="mrr_movement_amount_positive"),
            models.CheckConstraint(
                condition=Q(mrr_before__gte=0, mrr_after__gte=0), name="mrr_movement_values_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount} {self.currency} {self.subscription_id}"

    @property
    def signed_amount(self):
        return self.amount if self.kind in MRR_UP else -self.amount


MRR_UP = (MrrMovement.Kind.NEW, MrrMovement.Kind.EXPANSION, MrrMovement.Kind.REACTIVATION)
MRR_DOWN = (MrrMovement.Kind.CONTRACTION, MrrMovement.Kind.CHURN)


class MetricSnapshot(models.Model):
    """The figures of one UTC day in one currency (the currency of the prices, never converted):
    stocks at the end of the day (MRR, subscription and paying-customer counts) and the day's flows
    (movements, trials, revenue). Written by the daily task and `manage.py rebuild_metrics`, so the
    API and the dashboard read a few rows at any scale (plans.metrics)."""

    day = models.DateField()
    currency = models.CharField(max_length=3)
    mrr = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    active_subscriptions = models.PositiveIntegerField(default=0)
    trialing_subscriptions = models.PositiveIntegerField(default=0)
    past_due_subscriptions = models.PositiveIntegerField(default=0)
    paying_customers = models.PositiveIntegerField(default=0)
    new = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    expansion = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    contraction = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    churn = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    reactivation = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    new_count = models.PositiveIntegerField(default=0)
    expansion_count = models.PositiveIntegerField(default=0)
    contraction_count = models.PositiveIntegerField(default=0)
    churn_count = models.PositiveIntegerField(default=0, help_text="Customers churned that day.")
    reactivation_count = models.PositiveIntegerField(default=0)
    trials_started = models.PositiveIntegerField(default=0)
    trials_ended = models.PositiveIntegerField(
        default=0, help_text="Trials whose trial ended that day, converted or not."
    )
    trials_converted = models.PositiveIntegerField(default=0)
    recovered = models.DecimalField(
        max_digits=19, decimal_places=4, default=0, help_text="Net of renewals paid after a failed charge (dunning)."
    )
    revenue = models.DecimalField(max_digits=19, decimal_places=4, default=0, help_text="Net of invoices paid.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "currency"]
        constraints = [models.UniqueConstraint(fields=["currency", "day"], name="metric_snapshot_one_per_day")]
        # What the dashboard shows a role (mediamanager/dashboard.py, mediamanager/roles.py).
        permissions = [
            ("view_finance_metrics", "Can see the money figures of the dashboard (MRR, revenue, movements)"),
            ("view_subscription_metrics", "Can see the subscription figures of the dashboard (counts, trials, churn)"),
        ]

    def __str__(self):
        return f"{self.day} {self.currency}"


class CampaignSnapshot(models.Model):
    """One coupon campaign's figures of one UTC day in one currency: redemptions made (by customers
    of that currency) and the discount it gave on invoices paid that day (coupons.DiscountGiven).
    Written beside the day's MetricSnapshot rows, so campaign figures read a few rows at any scale."""

    day = models.DateField()
    coupon = models.ForeignKey("coupons.Coupon", on_delete=models.CASCADE, related_name="snapshots")
    currency = models.CharField(max_length=3)
    redemptions = models.PositiveIntegerField(default=0)
    discount_given = models.DecimalField(max_digits=19, decimal_places=4, default=0)

    class Meta:
        ordering = ["day", "coupon", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["day", "coupon", "currency"], name="campaign_snapshot_one_per_day")
        ]

    def __str__(self):
        return f"{self.day} {self.coupon_id} {self.currency}"


class OutgoingEmail(models.Model):
    """An email to a subscriber, written in the transaction that caused it (a rolled-back change
    mails no one) and sent by the worker (`notifications.emails_send`), which marks it sent in the
    transaction that holds it. Unsent rows are swept every minute: a worker killed with the task in
    hand (a Redis broker hands tasks out without acknowledgement) loses no email. Receipts are
    rendered when sent (their PDF attached); other emails are rendered when written. Sent rows are
    deleted after EMAIL_RETENTION_DAYS; an erased customer's, at once."""

    customer = models.ForeignKey("payments.Customer", on_delete=models.CASCADE, related_name="outgoing_emails")
    template = models.CharField(max_length=40)
    subject = models.CharField(max_length=255, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    invoice = models.ForeignKey("payments.Invoice", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True), name="outgoing_email_unsent"),
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outgoing_email_sent"),
        ]

    def __str__(self):
        return f"{self.template} to {self.customer_id}"
