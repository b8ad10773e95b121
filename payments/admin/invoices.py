"""Cards (brand and last four only) and invoices with their tax, read-only: the services write them."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from djmoney.money import Money  # django-money's Money formats like the MoneyFields beside it

from integrations.kernel.admin import ReadOnlyAdmin, ReadOnlyInline
from payments.admin.columns import (
    TAX_STATUS_WORDS,
    DocumentLinesInline,
    FinanceExportMixin,
    _card_expiry,
    _payment_refunded,
    breakdown_rates,
    rate_percent,
    tax_breakdown_table,
    tax_place,
)
from payments.admin.documents import DocumentPdfMixin, has_pdf_permission
from payments.models import (
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentMethod,
)
from payments.representations import tax_breakdown
from payments.services import invoice_document_render
from payments.tax.models import TaxRate, TaxRegistration


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


class InvoiceLineInline(DocumentLinesInline):
    model = InvoiceLine
    fields = [
        "position",
        "description",
        "quantity",
        "unit_amount",
        "amount",
        "discount",
        "net",
        "rate",
        "tax",
        "total",
        "reference",
    ]
    show_change_link = False

    @admin.display(description="amount")
    def amount(self, line):
        return line.unit_amount * line.quantity

    @admin.display(description="discount")
    def discount(self, line):
        return line.discount_amount

    @admin.display(description="tax rate")
    def rate(self, line):
        return rate_percent(line.tax_rate)

    @admin.display(description="tax")
    def tax(self, line):
        return line.tax_amount


class InvoicePaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["amount", "refunded", "status", "payment_method", "created_at"]
    refunded = staticmethod(_payment_refunded)
    verbose_name_plural = "payments"


class InvoiceCreditNoteInline(ReadOnlyInline):
    model = CreditNote
    fields = ["number", "refund", "subtotal", "tax", "total", "created_at", "pdf"]
    verbose_name_plural = "credit notes"

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if has_pdf_permission(request) else [name for name in fields if name != "pdf"]

    @admin.display(description="PDF")
    def pdf(self, note):
        return format_html('<a href="{}">PDF</a>', reverse("admin:payments_creditnote_pdf", args=[note.pk]))


class TaxStatusFilter(admin.SimpleListFilter):
    title = "tax status"
    parameter_name = "tax_status"

    def lookups(self, request, model_admin):
        return list(TAX_STATUS_WORDS.items())

    def queryset(self, request, queryset):
        return queryset.filter(tax_status=self.value()) if self.value() in TAX_STATUS_WORDS else queryset


class TaxBehaviourFilter(admin.SimpleListFilter):
    title = "tax behaviour"
    parameter_name = "tax_behaviour"

    def lookups(self, request, model_admin):
        return [("inclusive", "prices include tax"), ("exclusive", "tax added to prices")]

    def queryset(self, request, queryset):
        if self.value() in ("inclusive", "exclusive"):
            return queryset.filter(tax_inclusive=self.value() == "inclusive")
        return queryset


class TaxCountryFilter(admin.SimpleListFilter):
    """The countries that can be taxed (those of the rate table and of the registrations), read
    from those small tables rather than from every invoice."""

    title = "tax country"
    parameter_name = "tax_country"

    def lookups(self, request, model_admin):
        countries = set(TaxRate.objects.values_list("country", flat=True).distinct())
        countries |= set(TaxRegistration.objects.values_list("country", flat=True).distinct())
        return [(country, country) for country in sorted(countries)]

    def queryset(self, request, queryset):
        value = (self.value() or "").upper()
        return queryset.filter(tax_country=value) if len(value) == 2 and value.isalpha() else queryset


class TaxEvidenceFilter(admin.SimpleListFilter):
    title = "tax evidence"
    parameter_name = "tax_evidence"

    def lookups(self, request, model_admin):
        return [
            ("conclusive", "conclusive (two pieces agree)"),
            ("inconclusive", "inconclusive"),
            ("none", "not recorded (before tax)"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "conclusive":
            return queryset.filter(tax_evidence_conclusive=True)
        if self.value() == "inconclusive":
            return queryset.filter(tax_evidence_conclusive=False)
        if self.value() == "none":
            return queryset.filter(tax_evidence_conclusive__isnull=True)
        return queryset


def _fieldset_names(fieldsets) -> list[str]:
    return [name for _, options in fieldsets for name in options["fields"]]


@admin.register(Invoice)
class InvoiceAdmin(DocumentPdfMixin, FinanceExportMixin, ReadOnlyAdmin):
    """An invoice as it was issued, with its tax (VAT Directive art. 226's particulars: where and at
    what rates it is taxed, the net and tax per rate, "Reverse charge", the buyer's VAT id) and
    the evidence of where the buyer is."""

    list_display = ["number_or_id", "customer", "status", "total", "tax", "tax_place", "created_at", "paid_at"]
    actions = ["export_csv"]
    export_columns = (
        "id", "number", "customer_id", "status", "currency", "subtotal", "discount_total", "net", "tax_total",
        "total", "tax_inclusive", "tax_status", "tax_country", "tax_subdivision", "tax_rates", "reverse_charge",
        "tax_evidence_conclusive", "buyer_business_name", "buyer_tax_id", "description", "created_at",
        "finalized_at", "paid_at", "voided_at",
    )  # fmt: skip
    export_prefetch = ("lines",)
    list_filter = ["status", "currency", TaxStatusFilter, TaxBehaviourFilter, TaxCountryFilter, TaxEvidenceFilter]
    search_fields = ["number", "=id", "customer__external_id", "customer__email", "=buyer_tax_id"]
    list_select_related = ["customer"]
    inlines = [InvoiceLineInline, InvoicePaymentInline, InvoiceCreditNoteInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "number",
                    "customer",
                    "status",
                    "currency",
                    "subtotal",
                    "discount_total",
                    "net",
                    "tax_total",
                    "total",
                    "source",
                    "description",
                    "created_at",
                    "finalized_at",
                    "paid_at",
                    "voided_at",
                ]
            },
        ),
        (
            "Tax",
            {
                "fields": [
                    "tax_behaviour",
                    "tax_status_words",
                    "tax_place",
                    "tax_registration",
                    "buyer_business_name",
                    "buyer_tax_id",
                    "tax_per_rate",
                ]
            },
        ),
        (
            "Evidence of where the buyer is",
            {
                "fields": [
                    "billing_country",
                    "card_country",
                    "ip_country_shown",
                    "evidence",
                    "tax_evidence_reviewed_at",
                    "tax_evidence_reviewed_by",
                ]
            },
        ),
    ]
    readonly_fields = _fieldset_names(fieldsets)

    @admin.display(description="number", ordering="number")
    def number_or_id(self, invoice):
        return invoice.number or f"(draft) {invoice.pk}"

    @admin.display(description="tax", ordering="tax_total")
    def tax(self, invoice):
        return invoice.tax_total

    @admin.display(description="net (without tax)")
    def net(self, invoice) -> Money:
        # The lines' nets: their totals less their tax, which the database holds equal (line checks, the invoice trigger).
        return invoice.total - invoice.tax_total

    @admin.display(description="tax country", ordering="tax_country")
    def tax_place(self, invoice):
        return tax_place(invoice)

    @admin.display(description="tax behaviour")
    def tax_behaviour(self, invoice):
        if invoice.tax_inclusive:
            return "Inclusive: the prices include the tax"
        return "Exclusive: the tax is added to the prices"

    @admin.display(description="tax status")
    def tax_status_words(self, invoice):
        return TAX_STATUS_WORDS.get(invoice.tax_status, invoice.tax_status)

    def _breakdown(self, invoice) -> list[dict]:
        lines = invoice.lines.all()
        return tax_breakdown(
            invoice=invoice, rates_nets_taxes=[(line.tax_rate, line.net, line.tax_amount) for line in lines]
        )

    @admin.display(description="tax per rate")
    def tax_per_rate(self, invoice):
        return tax_breakdown_table(self._breakdown(invoice), untaxed=self.tax_status_words(invoice))

    @admin.display(description="IP country", ordering="ip_country")
    def ip_country_shown(self, invoice):
        """The country the app reported (its field's name reads "Ip country")."""
        return invoice.ip_country or None

    @admin.display(description="evidence")
    def evidence(self, invoice):
        if invoice.tax_evidence_conclusive is None:
            return "Not recorded (built before tax evidence)"
        if invoice.tax_evidence_conclusive:
            return "Conclusive: at least two pieces agree"
        return "Inconclusive: fewer than two pieces agree (taxed at the billing country)"

    def document_render(self, invoice):
        return invoice_document_render(invoice=invoice)

    # Export columns that are not the invoice's own attributes.
    def tax_rates(self, invoice) -> str:
        return breakdown_rates(self._breakdown(invoice))

    def reverse_charge(self, invoice) -> bool:
        return invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE
