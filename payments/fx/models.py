"""Dated exchange rates. Imported by payments/models.py, so they belong to the payments app."""

from django.db import models
from django.db.models import Q


class ExchangeRate(models.Model):
    """On `date`, one `base` is worth `rate` of `quote` (EUR→USD 1.08: 1 EUR = 1.08 USD). One row
    per (date, base, quote); a conversion uses the latest row on or before the day it converts."""

    date = models.DateField()
    base = models.CharField(max_length=3, help_text="ISO 4217 code of the currency converted from.")
    quote = models.CharField(max_length=3, help_text="ISO 4217 code of the currency converted to.")
    rate = models.DecimalField(max_digits=24, decimal_places=12, help_text="Units of quote for one base.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["date", "base", "quote"], name="exchange_rate_one_per_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
            models.CheckConstraint(condition=~Q(base=models.F("quote")), name="exchange_rate_two_currencies"),
        ]
        indexes = [models.Index(fields=["base", "quote", "-date"], name="exchange_rate_lookup")]

    def __str__(self):
        return f"{self.date} 1 {self.base} = {self.rate.normalize():f} {self.quote}"
