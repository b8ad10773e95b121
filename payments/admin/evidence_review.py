"""Finance's "Tax evidence to review": finalized, taxed invoices whose location evidence did not
agree (issue 11, item 3), the three countries side by side, newest first. Each is taxed at the
billing country whatever is decided here; finance marks the ones it checked as reviewed
(payments.services.invoice_tax_evidence_review: who and when are kept, and audited)."""

from django.contrib import admin

from integrations.kernel.admin import ConfirmedActionsMixin
from payments.admin.invoices import InvoiceAdmin, TaxCountryFilter, TaxStatusFilter
from payments.models import InvoiceEvidenceReview
from payments.selectors import invoice_list_evidence_inconclusive
from payments.services import invoice_tax_evidence_review

_HELP = (
    "Finalized, taxed invoices where fewer than two pieces of location evidence (billing country, the card's "
    "issuing country, the country the app reported) agree. Each is taxed at the billing country. Check the "
    "customer's address with them when the card and the app point elsewhere, then mark the invoice reviewed."
)


class ReviewStateFilter(admin.SimpleListFilter):
    """To review (the default), reviewed, or both."""

    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("reviewed", "reviewed"), ("all", "all")]

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        if self.value() == "reviewed":
            return queryset.filter(tax_evidence_reviewed_at__isnull=False)
        return queryset.filter(tax_evidence_reviewed_at__isnull=True)

    def choices(self, changelist):
        yield {
            "selected": self.value() not in ("reviewed", "all"),
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "to review",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


@admin.register(InvoiceEvidenceReview)
class InvoiceEvidenceReviewAdmin(ConfirmedActionsMixin, InvoiceAdmin):
    list_display = [
        "number_or_id",
        "customer",
        "created_at",
        "billing_country",
        "card_country",
        "ip_country_shown",
        "tax_place",
        "tax_status_words",
        "total",
        "tax",
        "tax_evidence_reviewed_at",
    ]
    list_filter = [ReviewStateFilter, TaxStatusFilter, TaxCountryFilter]
    actions = ["mark_reviewed", "export_csv"]

    def get_queryset(self, request):
        return invoice_list_evidence_inconclusive(invoices=super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        context = {"title": "Tax evidence to review", "subtitle": _HELP, **(extra_context or {})}
        return super().changelist_view(request, context)

    def action_name(self, invoice) -> str:
        return str(invoice)

    action_ref = action_name

    @admin.action(description="Mark the evidence reviewed", permissions=["operate"])
    def mark_reviewed(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="mark_reviewed",
                title="Mark the tax evidence reviewed?",
                question=(
                    "These invoices stay taxed at their billing country; they leave the list, and your name "
                    "and the time are kept on each."
                ),
            )

        def review(invoice):
            _, reviewed = invoice_tax_evidence_review(invoice=invoice, reviewer=request.user)
            return (True, "reviewed") if reviewed else (False, "already reviewed")

        self._each(request, queryset, done="Evidence reviewed", call=review)
        return None
