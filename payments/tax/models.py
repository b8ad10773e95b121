"""Tax registrations (where the operator collects tax) and tax rates (dated rows per country,
subdivision and category). Imported by payments/models.py, so they belong to the payments app."""

import datetime as dt

from django.db import models

from integrations.kernel.ids import PrefixedIdField

DIGITAL_SERVICES = "digital_services"  # the standard rate that applies to streaming and e-services


class TaxRegistration(models.Model):
    """The operator is registered to collect tax in `country` (or one US/CA subdivision) from
    `active_from` to `expires_at` (the first day it no longer applies; null: open-ended). Nothing is
    taxed where no registration is active: this is the switch that turns a region's tax on."""

    class Scheme(models.TextChoices):
        DOMESTIC = "domestic", "domestic (registered in that country)"
        EU_OSS = "eu_oss", "EU One-Stop Shop (consumers in every member state)"
        UK = "uk", "United Kingdom VAT"
        OTHER = "other", "other (a simplified scheme for foreign sellers: VOEC, ATO, IRD, ...)"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SCHEDULED = "scheduled"
        EXPIRED = "expired"

    id = PrefixedIdField(prefix="txr")
    country = models.CharField(
        max_length=2, help_text="ISO 3166-1 alpha-2; for eu_oss, the member state it is held in."
    )
    subdivision = models.CharField(
        max_length=3,
        blank=True,
        default="",
        help_text="US state or Canadian province (ISO 3166-2, e.g. QC); else empty.",
    )
    scheme = models.CharField(max_length=10, choices=Scheme.choices)
    number = models.CharField(max_length=50, help_text="The registration number the tax authority gave.")
    active_from = models.DateField(help_text="The first day tax is collected under it.")
    expires_at = models.DateField(
        null=True, blank=True, help_text="The first day it no longer applies; empty while it has no end."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "payments"
        ordering = ["-created_at", "-id"]
        # The tax report reads what every registration collected (payments/tax/report.py; finance).
        permissions = [("view_tax_report", "Can view and download the tax report (finance)")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="taxregistration_country_iso"
            ),
            models.CheckConstraint(
                condition=models.Q(subdivision__regex=r"^[A-Z0-9]{0,3}$"), name="taxregistration_subdivision_code"
            ),
            models.CheckConstraint(
                condition=models.Q(scheme__in=["domestic", "eu_oss", "uk", "other"]), name="taxregistration_scheme"
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=models.F("active_from")),
                name="taxregistration_expires_after_start",
            ),
        ]

    def __str__(self):
        where = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        return f"{where} {self.scheme} {self.number}"

    def is_active_on(self, day: dt.date) -> bool:
        return self.active_from <= day and (self.expires_at is None or day < self.expires_at)

    def status_on(self, day: dt.date) -> str:
        if day < self.active_from:
            return self.Status.SCHEDULED
        if self.expires_at is not None and day >= self.expires_at:
            return self.Status.EXPIRED
        return self.Status.ACTIVE


class TaxRate(models.Model):
    """A rate in force from `valid_from` to `valid_to` (the first day it no longer applies; null:
    until a newer row). A change is a new row, and the row before it ends where the new one starts:
    a row already in force is never edited, so what past invoices were taxed at stays on record.

    A subdivision row either replaces the country's row (Canada's HST, in place of the GST) or is
    added to it (`adds_to_country`: Quebec's QST, the PST of BC, Manitoba and Saskatchewan)."""

    country = models.CharField(max_length=2)
    subdivision = models.CharField(max_length=3, blank=True, default="")
    category = models.CharField(
        max_length=40,
        default=DIGITAL_SERVICES,
        help_text="digital_services is the standard rate; a category a country taxes lower has its own rows.",
    )
    name = models.CharField(max_length=20, help_text="The tax's name on an invoice: VAT, GST, HST, QST, PST, ...")
    rate = models.DecimalField(max_digits=6, decimal_places=5, help_text="A fraction: 0.19 is 19%.")
    adds_to_country = models.BooleanField(
        default=False,
        help_text="Subdivision rows only. Ticked: the subdivision's own tax, collected under a registration there "
        "and added to any country-wide rate (QST, PST, a US state's sales tax). Unticked: a harmonized rate "
        "collected under the country's registration in place of the country-wide rate (HST).",
    )
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True, help_text="The first day it no longer applies.")
    source = models.CharField(max_length=500, help_text="Where the figure comes from: a URL or a publication.")
    source_date = models.DateField(help_text="The date of that source.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "payments"
        ordering = ["country", "subdivision", "category", "valid_from"]
        indexes = [models.Index(fields=["country", "subdivision", "category", "valid_from"], name="taxrate_lookup")]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "subdivision", "category", "valid_from"], name="taxrate_one_row_per_start"
            ),
            models.UniqueConstraint(
                fields=["country", "subdivision", "category"],
                condition=models.Q(valid_to__isnull=True),
                name="taxrate_one_open_row",
            ),
            models.CheckConstraint(condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="taxrate_country_iso"),
            models.CheckConstraint(
                condition=models.Q(subdivision__regex=r"^[A-Z0-9]{0,3}$"), name="taxrate_subdivision_code"
            ),
            models.CheckConstraint(
                condition=models.Q(category__regex=r"^[a-z][a-z0-9_]{0,39}$"), name="taxrate_category_word"
            ),
            models.CheckConstraint(condition=models.Q(rate__gte=0, rate__lt=1), name="taxrate_rate_fraction"),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gt=models.F("valid_from")),
                name="taxrate_valid_to_after_from",
            ),
            models.CheckConstraint(condition=~models.Q(source=""), name="taxrate_has_source"),
            models.CheckConstraint(
                condition=models.Q(adds_to_country=False) | ~models.Q(subdivision=""),
                name="taxrate_adds_only_for_subdivision",
            ),
        ]

    def __str__(self):
        where = f"{self.country}-{self.subdivision}" if self.subdivision else self.country
        until = f" to {self.valid_to}" if self.valid_to else ""
        return f"{where} {self.category} {self.name} {self.rate.normalize():f} from {self.valid_from}{until}"

    def is_in_force_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)
