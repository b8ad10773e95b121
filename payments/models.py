"""Customers, gateway accounts, cards, invoices, payments, refunds and payouts."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from djmoney.models.fields import MoneyField

from integrations.kernel.encryption import EncryptedJSONField
from integrations.kernel.ids import PrefixedIdField

# Exchange rates live in payments/fx/ (the metrics convert with them); imported here so that
# Django finds them in the payments app.
from payments.fx.models import ExchangeRate  # noqa: F401

# Tax registrations and rates live in payments/tax/ (which knows no invoice); imported here so that
# Django finds them in the payments app.
from payments.tax.models import DIGITAL_SERVICES, TaxRate, TaxRegistration  # noqa: F401

# Money columns hold four decimal places, so two amounts within half of the fourth place are equal.
# On PostgreSQL (exact numeric) this is plain equality; on SQLite (`make run`), which compares
# decimals as floats, it absorbs their rounding error (8.33 + 1.66 is not 9.99 in binary).
_HALF_LAST_PLACE = models.Value(Decimal("0.00005"))


def sums_equal(column: str, expression) -> models.Q:
    """A check that `column` equals `expression` (a sum of money columns)."""
    return models.Q(
        **{f"{column}__gte": expression - _HALF_LAST_PLACE, f"{column}__lte": expression + _HALF_LAST_PLACE}
    )


class Customer(models.Model):
    class TaxIdStatus(models.TextChoices):
        UNVERIFIED = "unverified"  # not checked yet, no register to ask (GB, CH...), or no answer: taxed as a consumer
        VERIFIED = "verified"  # the register (VIES) knows it
        INVALID = "invalid"  # the register says it is not a registered number

    id = PrefixedIdField(prefix="cus")
    # Both null once the customer is erased (GDPR art. 17): the external_id is free for a new customer.
    external_id = models.CharField(
        max_length=255, unique=True, null=True, help_text="The id in the operator's identity system."
    )
    email = models.EmailField(max_length=254, null=True)
    name = models.CharField(max_length=255, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    subdivision = models.CharField(
        max_length=3, blank=True, default="", help_text="US state or Canadian province (ISO 3166-2, e.g. QC): its tax."
    )
    currency = models.CharField(max_length=3, help_text="The country's default until the first payment fixes it.")
    currency_fixed_at = models.DateTimeField(null=True, blank=True, help_text="When a payment fixed the currency.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True, help_text="When the personal data was erased.")
    # A business customer: its tax id in our normal form (payments.tax.vat_ids), checked by VIES where it can be.
    business_name = models.CharField(max_length=255, blank=True)
    tax_id = models.CharField(
        max_length=20, null=True, blank=True, help_text="VAT or business number, with its country prefix."
    )
    tax_id_country = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 of the tax id's prefix (GR for EL, GB for XI)."
    )
    tax_id_status = models.CharField(max_length=10, choices=TaxIdStatus.choices, default=TaxIdStatus.UNVERIFIED)
    tax_id_verified_at = models.DateTimeField(null=True, blank=True, help_text="When VIES last confirmed it.")
    # The language of the customer's documents (invoice and credit-note PDFs): a BCP 47 tag such as
    # "de" or "de-AT"; empty = English. Numbers and dates follow the whole tag, words its language.
    preferred_locale = models.CharField(
        max_length=35, blank=True, default="", help_text='BCP 47 language tag ("de", "de-AT"); empty: English.'
    )
    # The buyer's postal address that invoices and credit notes print (VAT Directive art. 226):
    # street, postal code and city, one per line (payments.services.customers.billing_address_read).
    billing_address = models.CharField(
        max_length=500, blank=True, default="", help_text="Street, postal code and city: up to 5 lines."
    )

    class Meta:
        ordering = ["-id"]
        permissions = [("erase_customer", "Can erase a customer's personal data")]
        indexes = [
            models.Index(Lower("email"), name="customer_email_lower"),
            # The re-check finds verified ids by age without reading every customer.
            models.Index(
                fields=["tax_id_verified_at"], condition=models.Q(tax_id__isnull=False), name="customer_tax_id_checks"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="customer_country_iso"),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="customer_currency_iso"),
            models.CheckConstraint(
                condition=models.Q(subdivision="")
                | models.Q(country__in=["US", "CA"], subdivision__regex=r"^[A-Z0-9]{1,3}$"),
                name="customer_subdivision_us_ca",
            ),
            models.CheckConstraint(
                condition=models.Q(tax_id_status__in=["unverified", "verified", "invalid"]),
                name="customer_tax_id_status_known",
            ),
            # Verified means VIES said so at a known time; no id, nothing verified and no country.
            models.CheckConstraint(
                condition=models.Q(tax_id_status="verified", tax_id_verified_at__isnull=False)
                | models.Q(~models.Q(tax_id_status="verified"), tax_id_verified_at__isnull=True),
                name="customer_tax_id_verified_when",
            ),
            models.CheckConstraint(
                condition=models.Q(tax_id__isnull=False, tax_id_country__regex=r"^[A-Z]{2}$")
                | models.Q(tax_id__isnull=True, tax_id_country="", tax_id_status="unverified"),
                name="customer_tax_id_country",
            ),
        ]

    def __str__(self):
        if self.erased_at:
            return f"{self.id} (erased)"
        return f"{self.external_id} <{self.email}>"


class CustomerToken(models.Model):
    """A short-lived bearer token for one customer's `/api/v1/me/...` calls; only its hash is kept."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"token for {self.customer_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class GatewayAccount(models.Model):
    """An operator's account with a payment gateway, and which customers it serves."""

    id = PrefixedIdField(prefix="gw")
    provider = models.CharField(max_length=20, help_text="Which gateway integration: sandbox, stripe or adyen.")
    display_name = models.CharField(max_length=100)
    region = models.CharField(
        max_length=40,
        blank=True,
        help_text="Accounts of one region back each other up: new cards go to the first by priority that is "
        "answering; while it is not, to the next.",
    )
    credentials = EncryptedJSONField(blank=True, help_text="Encrypted at rest; never shown again once saved.")
    countries = models.JSONField(default=list, blank=True, help_text="ISO country codes served; empty = all.")
    currencies = models.JSONField(default=list, blank=True, help_text="ISO currency codes served; empty = all enabled.")
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower goes first.")
    active = models.BooleanField(default=True)
    # Health, kept by the services from the gateway's answers (timeouts and 5xx, never declines).
    unanswered = models.PositiveIntegerField(default=0, help_text="Calls in a row the gateway did not answer.")
    unavailable_until = models.DateTimeField(
        null=True, blank=True, help_text="Until then new cards and first payments go to a backup."
    )
    last_unanswered_at = models.DateTimeField(null=True, blank=True)
    last_unanswered = models.CharField(max_length=200, blank=True)
    outage_drill = models.BooleanField(
        default=False,
        help_text="Sandbox only: it answers nothing, as a gateway that is down, so failover can be rehearsed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "created_at"]

    def __str__(self):
        return f"{self.display_name} ({self.provider})"

    def unavailable(self, now) -> bool:
        return self.unavailable_until is not None and self.unavailable_until > now

    def serves(self, *, country: str, currency: str) -> bool:
        return (not self.countries or country in self.countries) and (
            not self.currencies or currency in self.currencies
        )


class GatewayCustomer(models.Model):
    """Our customer's id at a gateway (a Stripe customer), created on first need."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="gateway_customers")
    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.PROTECT)
    reference = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "gateway_account"], name="gateway_customer_unique"),
        ]

    def __str__(self):
        return self.reference


class PaymentMethod(models.Model):
    """A card tokenized by a gateway. Only brand, last four, expiry and a keyed fingerprint are kept."""

    id = PrefixedIdField(prefix="pm")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="payment_methods")
    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.PROTECT, related_name="payment_methods")
    gateway_reference = models.CharField(max_length=255)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    fingerprint = models.CharField(max_length=64, blank=True)
    country = models.CharField(
        max_length=2, blank=True, help_text="The card's issuing country (ISO 3166-1 alpha-2), as the gateway says."
    )
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    detached_at = models.DateTimeField(null=True, blank=True)
    gateway_detached_at = models.DateTimeField(
        null=True, blank=True, help_text="When the gateway confirmed the card is no longer kept for us."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(is_default=True, detached_at__isnull=True),
                name="payment_method_one_default_per_customer",
            ),
            models.CheckConstraint(condition=models.Q(last4__regex=r"^[0-9]{4}$"), name="payment_method_last4_digits"),
            models.CheckConstraint(
                condition=models.Q(country__regex=r"^([A-Z]{2})?$"), name="payment_method_country_iso"
            ),
            models.UniqueConstraint(
                fields=["gateway_account", "gateway_reference"], name="payment_method_reference_unique"
            ),
        ]

    def __str__(self):
        return f"{self.brand} •••• {self.last4} ({self.exp_month:02d}/{self.exp_year})"


class InvoiceNumberSequence(models.Model):
    """The last invoice number used in a year; locked while numbering so numbers have no gaps."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        PAID = "paid"
        VOID = "void"
        UNCOLLECTIBLE = "uncollectible"

    class TaxStatus(models.TextChoices):
        COLLECTING = "collecting", "tax collected"
        REVERSE_CHARGE = "reverse_charge", "reverse charge (the business customer accounts for it)"
        NOT_REGISTERED = "not_registered", "not registered there: no tax"
        NO_RATE = "no_rate", "registered, but no rate in force: no tax"

    id = PrefixedIdField(prefix="inv")
    number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.DRAFT, db_index=True)
    subtotal = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    discount_total = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    tax_total = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    total = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    # What the invoice bills, in the seller's words (e.g. "sub_...:2027-01-31"): unique, so a rerun finds it.
    source = models.CharField(max_length=120, null=True, blank=True, unique=True)
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0, help_text="Charges tried for it, every attempt counted.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="The next planned retry; empty = none.")
    # Its tax, as decided when it was built (payments.tax.rules.tax_decide): kept, so later changes
    # to rates, registrations or the customer never move an issued invoice.
    tax_inclusive = models.BooleanField(default=True, help_text="Whether the lines' amounts include the tax.")
    tax_status = models.CharField(max_length=14, choices=TaxStatus.choices, default=TaxStatus.NOT_REGISTERED)
    tax_country = models.CharField(max_length=2, blank=True, help_text="Where it is taxed (place of supply).")
    tax_subdivision = models.CharField(max_length=3, blank=True)
    tax_registration = models.ForeignKey(
        "payments.TaxRegistration", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    billing_country = models.CharField(max_length=2, blank=True)
    card_country = models.CharField(max_length=2, blank=True, help_text="The card's issuing country, if known.")
    ip_country = models.CharField(max_length=2, blank=True, help_text="The country the app reported, if any.")
    tax_evidence_conclusive = models.BooleanField(
        null=True, help_text="At least two pieces of location evidence agree (empty: built before tax evidence)."
    )
    buyer_business_name = models.CharField(max_length=255, blank=True)
    buyer_tax_id = models.CharField(max_length=20, blank=True, help_text="The customer's tax id when it was built.")
    # Finance's review of inconclusive evidence (invoice_tax_evidence_review): who looked, and when.
    tax_evidence_reviewed_at = models.DateTimeField(null=True, blank=True)
    tax_evidence_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The admin's review list: taxed invoices whose evidence does not agree.
            models.Index(
                fields=["-created_at"],
                condition=models.Q(tax_evidence_conclusive=False),
                name="invoice_evidence_to_review",
            ),
            # The tax report: paid invoices by day.
            models.Index(fields=["paid_at"], condition=models.Q(paid_at__isnull=False), name="invoice_paid_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(total__gte=0), name="invoice_total_not_negative"),
            # Inclusive: the tax is inside the lines' amounts. Exclusive: it is added to them.
            models.CheckConstraint(
                condition=(
                    models.Q(tax_inclusive=True)
                    & sums_equal("total", models.F("subtotal") - models.F("discount_total"))
                )
                | (
                    models.Q(tax_inclusive=False)
                    & sums_equal("total", models.F("subtotal") - models.F("discount_total") + models.F("tax_total"))
                ),
                name="invoice_total_adds_up",
            ),
            models.CheckConstraint(
                condition=~models.Q(tax_status="reverse_charge") | models.Q(tax_total=0),
                name="invoice_reverse_charge_untaxed",
            ),
            # Only inconclusive evidence is reviewed.
            models.CheckConstraint(
                condition=models.Q(tax_evidence_reviewed_at__isnull=True) | models.Q(tax_evidence_conclusive=False),
                name="invoice_evidence_reviewed_inconclusive",
            ),
        ]

    def __str__(self):
        return self.number or self.id


class InvoiceEvidenceReview(Invoice):
    """Finance's "Tax evidence to review" screen: finalized, taxed invoices whose location evidence
    did not agree (payments.selectors.invoice_list_evidence_to_review), with permissions of its own."""

    class Meta:
        proxy = True
        verbose_name = "tax evidence to review"
        verbose_name_plural = "tax evidence to review"


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    discount_amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    net = MoneyField(max_digits=19, decimal_places=4, default_currency=None, help_text="After discounts, without tax.")
    tax_rate = models.DecimalField(max_digits=7, decimal_places=6, default=0, help_text="0.19 is 19%.")
    tax_category = models.CharField(max_length=30, default=DIGITAL_SERVICES)
    tax_amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    total = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    reference = models.CharField(max_length=120, blank=True, help_text="What the line is for, e.g. a plan price.")
    # When the service is supplied (a subscription's period): the invoice's date of supply (VAT
    # Directive art. 226(7); EN 16931's line period). Empty: supplied when the invoice is issued.
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position_unique"),
            # net + tax = total; inclusive: the amount after discounts is the total, exclusive: it is the net.
            models.CheckConstraint(
                condition=sums_equal("total", models.F("net") + models.F("tax_amount"))
                & (
                    sums_equal("total", models.F("quantity") * models.F("unit_amount") - models.F("discount_amount"))
                    | sums_equal("net", models.F("quantity") * models.F("unit_amount") - models.F("discount_amount"))
                ),
                name="invoice_line_total_adds_up",
            ),
            models.CheckConstraint(
                condition=models.Q(net__gte=0, tax_amount__gte=0, tax_rate__gte=0, tax_rate__lt=1),
                name="invoice_line_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(period_start__isnull=True, period_end__isnull=True)
                | models.Q(period_start__isnull=False, period_end__gte=models.F("period_start")),
                name="invoice_line_period_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.description} x {self.quantity}"


class Payout(models.Model):
    """Money a gateway sent to the operator's bank: the net of the payments settled in it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        IN_TRANSIT = "in_transit"
        PAID = "paid"
        FAILED = "failed"

    id = PrefixedIdField(prefix="po")
    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.PROTECT, related_name="payouts")
    gateway_reference = models.CharField(max_length=255, blank=True)
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    fee_total = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    arrival_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-arrival_date", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_account", "gateway_reference"],
                condition=~models.Q(gateway_reference=""),
                name="payout_reference_unique",
            ),
        ]

    def __str__(self):
        return f"{self.amount} on {self.arrival_date}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "processing"
        REQUIRES_ACTION = "requires_action"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"
        REFUNDED = "refunded"
        PARTIALLY_REFUNDED = "partially_refunded"

    id = PrefixedIdField(prefix="pay")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.PROTECT, related_name="payments")
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, null=True, blank=True)
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    amount_refunded = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    status = models.CharField(max_length=18, choices=Status.choices, default=Status.PROCESSING, db_index=True)
    off_session = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    gateway_reference = models.CharField(max_length=255, blank=True, db_index=True)
    decline_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    next_action_url = models.URLField(max_length=500, blank=True)
    return_url = models.CharField(max_length=500, blank=True)
    fee = MoneyField(max_digits=19, decimal_places=4, default_currency=None, null=True, blank=True)
    net = MoneyField(max_digits=19, decimal_places=4, default_currency=None, null=True, blank=True)
    payout = models.ForeignKey(Payout, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments")
    captured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("refund_up_to_limit", "Can refund up to SUPPORT_REFUND_LIMITS (support)"),
            ("export_finance", "Can export payments, refunds, invoices and payouts as CSV (finance)"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="payment_amount_not_negative"),
            # The last word on refunds: never more back than was captured.
            models.CheckConstraint(
                condition=models.Q(amount_refunded__gte=0, amount_refunded__lte=models.F("amount")),
                name="payment_refunds_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="payment_status_updated")]

    def __str__(self):
        return f"{self.id} {self.amount} {self.status}"

    @property
    def current_idempotency_key(self) -> str:
        return payment_idempotency_key(self.id, self.attempts)


def payment_idempotency_key(payment_id: str, attempt: int) -> str:
    """The key every gateway call for one attempt carries: our row's id and the attempt number."""
    return f"{payment_id}-{attempt}"


class PaymentAttempt(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=64, unique=True)
    outcome = models.CharField(max_length=20, blank=True)
    decline_code = models.CharField(max_length=50, blank=True)
    gateway_reference = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["payment", "number"]
        constraints = [models.UniqueConstraint(fields=["payment", "number"], name="payment_attempt_number_unique")]

    def __str__(self):
        return self.idempotency_key


class Refund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = PrefixedIdField(prefix="ref")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    reason = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    gateway_reference = models.CharField(max_length=255, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    # When the refund was last sent to the gateway: reconciliation sends it again only once no
    # request can still be in flight (and only if the gateway has no such refund).
    requested_at = models.DateTimeField(default=timezone.now)
    payout = models.ForeignKey(Payout, on_delete=models.SET_NULL, null=True, blank=True, related_name="refunds")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self):
        return f"{self.id} {self.amount} {self.status}"


class CreditNoteNumberSequence(models.Model):
    """The last credit note number used in a year (their own gap-free series, beside the invoices')."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"


class CreditNote(models.Model):
    """What a refund gave back, as an accounting document: the refunded share of each line of the
    invoice and of its tax (`credit_note_issue`)."""

    id = PrefixedIdField(prefix="cn")
    number = models.CharField(max_length=20, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    refund = models.OneToOneField(Refund, on_delete=models.PROTECT, related_name="credit_note")
    currency = models.CharField(max_length=3)
    subtotal = MoneyField(max_digits=19, decimal_places=4, default_currency=None, help_text="Net credited.")
    tax = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    total = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=sums_equal("total", models.F("subtotal") + models.F("tax")), name="credit_note_total_adds_up"
            ),
            models.CheckConstraint(condition=models.Q(subtotal__gte=0, tax__gte=0), name="credit_note_not_negative"),
        ]

    def __str__(self):
        return self.number


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="credit_note_lines")
    net = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    tax = MoneyField(max_digits=19, decimal_places=4, default_currency=None)
    total = MoneyField(max_digits=19, decimal_places=4, default_currency=None)

    class Meta:
        ordering = ["credit_note", "invoice_line__position"]
        constraints = [
            models.UniqueConstraint(fields=["credit_note", "invoice_line"], name="credit_note_line_unique"),
            models.CheckConstraint(
                condition=sums_equal("total", models.F("net") + models.F("tax")), name="credit_note_line_adds_up"
            ),
            models.CheckConstraint(condition=models.Q(net__gte=0, tax__gte=0), name="credit_note_line_not_negative"),
        ]

    def __str__(self):
        return f"{self.credit_note_id} line {self.invoice_line_id}"


class StoredDocument(models.Model):
    """An issued document as a PDF (payments.services.documents): what it says is frozen when it is
    issued (`snapshot`: the seller, the buyer, the lines and the totals as they were then, in the
    customer's `language`), the PDF is rendered from that on first need and then kept, bytes and
    SHA-256, and served unchanged ever after. The bytes live in this row, in the same database and
    backups as the invoice they are the legal copy of (tens of kilobytes each)."""

    language = models.CharField(max_length=35, help_text="The BCP 47 tag it is written in.")
    snapshot = models.JSONField(help_text="What the document says, as it was when it was issued.")
    frozen_at = models.DateTimeField()
    content = models.BinaryField(null=True, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Hex SHA-256 of the PDF: its ETag.")
    size = models.PositiveIntegerField(null=True, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            # Rendered whole or not at all: bytes, their hash, size and time together.
            models.CheckConstraint(
                condition=models.Q(content__isnull=True, sha256="", size__isnull=True, rendered_at__isnull=True)
                | models.Q(
                    content__isnull=False,
                    sha256__regex=r"^[0-9a-f]{64}$",
                    size__isnull=False,
                    rendered_at__isnull=False,
                ),
                name="%(class)s_rendered_whole",
            ),
        ]


class InvoiceDocument(StoredDocument):
    """An invoice's PDF: one per invoice (its primary key), frozen when the invoice is finalized."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, primary_key=True, related_name="document")

    class Meta(StoredDocument.Meta):
        default_permissions = ()
        # Support, finance and administrators open invoice and credit-note PDFs in the admin.
        permissions = [("view_pdf", "Can view invoice and credit note PDFs")]

    def __str__(self):
        return f"PDF of {self.invoice_id}"


class CreditNoteDocument(StoredDocument):
    """A credit note's PDF: one per credit note, frozen when the credit note is issued."""

    credit_note = models.OneToOneField(CreditNote, on_delete=models.CASCADE, primary_key=True, related_name="document")

    class Meta(StoredDocument.Meta):
        default_permissions = ()

    def __str__(self):
        return f"PDF of {self.credit_note_id}"


class GatewayWebhookEvent(models.Model):
    """A gateway notification we processed, by its id: a second delivery is a no-op."""

    gateway_account = models.ForeignKey(GatewayAccount, on_delete=models.CASCADE)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway_account", "event_id"], name="gateway_webhook_event_unique")
        ]

    def __str__(self):
        return f"{self.event_id} {self.type}"
