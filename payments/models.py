"""Customers and their API tokens (cards, payments and invoices arrive with the payments issue)."""

from django.db import models
from django.db.models.functions import Lower

from integrations.ids import PrefixedIdField


class Customer(models.Model):
    id = PrefixedIdField(prefix="cus")
    external_id = models.CharField(max_length=255, unique=True, help_text="The id in the operator's identity system.")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=255, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    currency = models.CharField(max_length=3, help_text="The country's default until the first payment fixes it.")
    currency_fixed_at = models.DateTimeField(null=True, blank=True, help_text="When a payment fixed the currency.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(Lower("email"), name="customer_email_lower")]
        constraints = [
            models.CheckConstraint(condition=models.Q(country__regex=r"^[A-Z]{2}$"), name="customer_country_iso"),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="customer_currency_iso"),
        ]

    def __str__(self):
        return f"{self.external_id} <{self.email}>"


class CustomerToken(models.Model):
    """A short-lived bearer token for one customer's `/api/v1/me/...` calls; only its hash is kept."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"token for {self.customer_id} until {self.expires_at:%Y-%m-%d %H:%M}"
