"""Cards (brand and last four only) and invoices, read-only: the services write them."""

from django.contrib import admin

from integrations.kernel.admin import ReadOnlyAdmin, ReadOnlyInline
from payments.admin.columns import FinanceExportMixin, _card_expiry, _payment_refunded
from payments.models import (
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentMethod,
)


class AttachedFilter(admin.SimpleListFilter):
    title = "attached"
    parameter_name = "attached"

    def lookups(self, request, model_admin):
        return [("yes", "attached"), ("no", "detached")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(detached_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(detached_at__isnull=False)
        return queryset


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    # Brand and last four only: the fingerprint and the gateway's card reference stay off screen.
    list_display = ["__str__", "brand", "last4", "expiry", "customer", "gateway_account", "is_default", "attached"]
    list_filter = ["brand", "gateway_account", AttachedFilter, "is_default"]
    search_fields = ["=id", "=last4", "customer__external_id", "customer__email"]
    list_select_related = ["customer", "gateway_account"]
    fields = [
        "id",
        "customer",
        "gateway_account",
        "brand",
        "last4",
        "expiry",
        "is_default",
        "created_at",
        "detached_at",
    ]
    readonly_fields = fields
    expiry = staticmethod(_card_expiry)

    @admin.display(description="attached", boolean=True)
    def attached(self, method):
        return method.detached_at is None


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = [
        "position",
        "description",
        "quantity",
        "unit_amount",
        "discount_amount",
        "tax_amount",
        "total",
        "reference",
    ]
    show_change_link = False


class InvoicePaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["amount", "refunded", "status", "payment_method", "created_at"]
    refunded = staticmethod(_payment_refunded)
    verbose_name_plural = "payments"


class InvoiceCreditNoteInline(ReadOnlyInline):
    model = CreditNote
    fields = ["number", "refund", "subtotal", "tax", "total", "created_at"]
    verbose_name_plural = "credit notes"


@admin.register(Invoice)
class InvoiceAdmin(FinanceExportMixin, ReadOnlyAdmin):
    list_display = ["number_or_id", "customer", "status", "total", "created_at", "paid_at"]
    actions = ["export_csv"]
    export_columns = (
        "id", "number", "customer_id", "status", "currency", "subtotal", "discount_total", "tax_total", "total",
        "description", "created_at", "finalized_at", "paid_at", "voided_at",
    )  # fmt: skip
    list_filter = ["status", "currency"]
    search_fields = ["number", "=id", "customer__external_id", "customer__email"]
    list_select_related = ["customer"]
    inlines = [InvoiceLineInline, InvoicePaymentInline, InvoiceCreditNoteInline]
    fields = [
        "id",
        "number",
        "customer",
        "status",
        "currency",
        "subtotal",
        "discount_total",
        "tax_total",
        "total",
        "source",
        "description",
        "created_at",
        "finalized_at",
        "paid_at",
        "voided_at",
    ]
    readonly_fields = fields

    @admin.display(description="number", ordering="number")
    def number_or_id(self, invoice):
        return invoice.number or f"(draft) {invoice.pk}"
