"""Columns more than one payments screen shows: money, cards, and an invoice's tax as finance reads it."""

from decimal import Decimal

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from djmoney.money import Money  # django-money's Money formats like the MoneyFields beside it

from integrations.kernel.admin import CsvExportMixin, ReadOnlyInline
from payments.currency import format_amount
from payments.models import (
    Invoice,
    Payment,
    PaymentMethod,
)
from payments.tax.rules import rate_repr


@admin.display(description="refunded")
def _payment_refunded(payment: Payment) -> Money:
    return Money(payment.amount_refunded, payment.amount.currency)


@admin.display(description="expiry")
def _card_expiry(method: PaymentMethod) -> str:
    return f"{method.exp_month:02d}/{method.exp_year}"


class FinanceExportMixin(CsvExportMixin):
    """Finance's CSV exports: amounts with their currency's digits, for the finance role.
    `export_prefetch`: relations a column reads, fetched once per chunk of rows, not once per row."""

    export_permission = "payments.export_finance"
    export_prefetch: tuple[str, ...] = ()

    def export_value(self, value):
        if isinstance(value, Money):
            return format_amount(value.amount, value.currency.code)
        return super().export_value(value)

    @admin.action(description="Export selected as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        if self.export_prefetch:
            queryset = queryset.prefetch_related(*self.export_prefetch)
        return super().export_csv(request, queryset)


class DocumentLinesInline(ReadOnlyInline):
    """An invoice's or a credit note's lines: part of the document, shown to whoever may view the
    document (no role holds permissions on lines of their own)."""

    def has_view_permission(self, request, obj=None):
        return self.admin_site._registry[self.parent_model].has_view_permission(request, obj)


# --- Tax ------------------------------------------------------------------------------------------

# How the invoice (and its credit notes) names its tax status; "Reverse charge" in the law's words.
TAX_STATUS_WORDS = {
    Invoice.TaxStatus.COLLECTING: "Tax collected",
    Invoice.TaxStatus.REVERSE_CHARGE: "Reverse charge: the business customer accounts for the VAT",
    Invoice.TaxStatus.NOT_REGISTERED: "No tax: not registered there",
    Invoice.TaxStatus.NO_RATE: "No tax: registered there, but no rate was in force",
}


def rate_percent(rate) -> str:
    """A rate as a person reads it: 0.19 is "19%", 0.09975 is "9.975%"."""
    return f"{rate_repr(Decimal(rate) * 100)}%"


def tax_place(invoice: Invoice) -> str:
    """Where it is taxed: "DE", or "CA-QC" with its subdivision."""
    if invoice.tax_subdivision:
        return f"{invoice.tax_country}-{invoice.tax_subdivision}"
    return invoice.tax_country


def breakdown_rates(rows: list[dict]) -> str:
    """The rates of a tax breakdown, as the API writes them ("0.19"; "0.07 0.19" for two)."""
    return " ".join(row["rate"] for row in rows)


def _money(value: dict) -> Money:
    return Money(value["amount"], value["currency"])


def tax_breakdown_table(rows: list[dict], *, untaxed: str) -> SafeString | str:
    """payments.representations.tax_breakdown's rows as a table (one row per rate); `untaxed`
    where there are none."""
    if not rows:
        return untaxed
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                "-".join(part for part in (row["country"], row["subdivision"]) if part),
                rate_percent(row["rate"]),
                _money(row["taxable"]),
                _money(row["tax"]),
                "Reverse charge" if row["reverse_charge"] else "",
            )
            for row in rows
        ),
    )
    return format_html(
        '<table class="tax-breakdown"><thead><tr><th>country</th><th>rate</th><th>taxable (net)</th>'
        "<th>tax</th><th></th></tr></thead><tbody>{}</tbody></table>",
        body,
    )
