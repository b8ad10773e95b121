"""Payments with their refund actions (confirmation first), refunds, payouts and credit notes with their tax."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from djmoney.money import Money  # django-money's Money formats like the MoneyFields beside it

from integrations.kernel.admin import ConfirmedActionsMixin, ReadOnlyAdmin, ReadOnlyInline
from integrations.kernel.errors import DomainError, InvalidRequest
from payments.admin.columns import (
    TAX_STATUS_WORDS,
    DocumentLinesInline,
    FinanceExportMixin,
    _payment_refunded,
    breakdown_rates,
    rate_percent,
    tax_breakdown_table,
    tax_place,
)
from payments.admin.documents import DocumentPdfMixin
from payments.currency import format_amount, parse_amount
from payments.models import (
    CreditNote,
    CreditNoteLine,
    Invoice,
    Payment,
    PaymentAttempt,
    Payout,
    Refund,
)
from payments.representations import tax_breakdown
from payments.services import (
    credit_note_document_render,
    payment_refund,
)


class PaymentRefundInline(ReadOnlyInline):
    model = Refund
    fields = ["amount", "status", "reason", "failure_message", "created_at"]


class PaymentAttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = ["number", "idempotency_key", "outcome", "decline_code", "created_at", "completed_at"]
    show_change_link = False
    verbose_name_plural = "attempts"


class PartialRefundForm(forms.Form):
    amount = forms.CharField(max_length=32)
    reason = forms.CharField(max_length=255, required=False)
    # What had been refunded when the operator reviewed the refund: a second submit of the same
    # confirmation (double click, back button) sees it moved and asks again instead of refunding twice.
    refunded_before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, payment: Payment, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = payment.amount.currency.code
        self.fields["amount"].label = f"Amount ({self.currency})"
        left = format_amount(payment.amount.amount - payment.amount_refunded, self.currency)
        self.fields["amount"].help_text = f"{left} {self.currency} is left to refund."

    def clean_amount(self):
        try:
            return parse_amount(self.cleaned_data["amount"], self.currency, allow_zero=False)
        except InvalidRequest as error:
            raise forms.ValidationError(error.message) from None

    def money(self) -> Money:
        return Money(self.cleaned_data["amount"], self.currency)


@admin.register(Payment)
class PaymentAdmin(FinanceExportMixin, ConfirmedActionsMixin, ReadOnlyAdmin):
    list_display = ["id", "customer", "amount", "refunded", "status", "gateway_account", "payment_method", "created_at"]
    list_filter = ["status", "gateway_account", "amount_currency", "customer__country"]
    search_fields = ["=id", "customer__external_id", "customer__email", "=gateway_reference"]
    list_select_related = ["customer", "gateway_account", "payment_method"]
    actions = ["refund_in_full", "export_csv"]
    export_columns = (
        "id", "created_at", "captured_at", "customer_id", "invoice_id", "status", "amount_currency", "amount",
        "refunded", "fee", "net", "payout_id", "gateway_account_id", "off_session", "decline_code",
    )  # fmt: skip
    inlines = [PaymentRefundInline, PaymentAttemptInline]
    fields = [
        "id",
        "customer",
        "invoice",
        "status",
        "amount",
        "refunded",
        "left_to_refund",
        "gateway_account",
        "payment_method",
        "gateway_reference",
        "off_session",
        "attempts",
        "decline_code",
        "failure_message",
        "fee",
        "net",
        "payout",
        "captured_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_refund_permission(self, request):
        """The bulk "refund in full" action: finance only."""
        return request.user.has_perm("payments.change_payment")

    def has_partial_refund_permission(self, request):
        """One payment's refund form: finance, or support up to SUPPORT_REFUND_LIMITS."""
        return self.has_refund_permission(request) or request.user.has_perm("payments.refund_up_to_limit")

    refunded = staticmethod(_payment_refunded)

    @admin.display(description="left to refund")
    def left_to_refund(self, payment):
        return Money(payment.amount.amount - payment.amount_refunded, payment.amount.currency)

    def _url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def get_urls(self):
        view = self.admin_site.admin_view(self.refund_view)
        return [path("<path:object_id>/refund/", view, name=self._url_name("refund")), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        payment = self.get_object(request, unquote(object_id))
        refundable = (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED)
        if payment is not None and payment.status in refundable and self.has_partial_refund_permission(request):
            extra_context["refund_url"] = reverse(f"admin:{self._url_name('refund')}", args=[payment.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def refund_view(self, request, object_id):
        """Refund part of one payment: a form (amount, reason), then a confirmation, then the service."""
        if not self.has_partial_refund_permission(request):
            raise PermissionDenied
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        confirming = False
        if request.method == "POST":
            form = PartialRefundForm(request.POST, payment=payment)
            if form.is_valid() and request.POST.get("confirm") == "yes":
                if _decimal_or_none(form.cleaned_data["refunded_before"]) != payment.amount_refunded:
                    form.add_error(None, "This payment changed since you reviewed the refund. Check and confirm again.")
                elif (refused := refund_limit_refusal(request.user, form.money())) is not None:
                    form.add_error("amount", refused)
                else:
                    try:
                        refund = payment_refund(
                            payment=payment, amount=form.money(), reason=form.cleaned_data["reason"]
                        )
                    except DomainError as error:
                        form.add_error("amount" if error.param == "amount" else None, error.message)
                    else:
                        self._report_refund(request, payment, refund)
                        return HttpResponseRedirect(reverse(f"admin:{self._url_name('change')}", args=[payment.pk]))
            elif form.is_valid():
                confirming = True
                form = PartialRefundForm(
                    {**form.data.dict(), "refunded_before": str(payment.amount_refunded)}, payment=payment
                )
                form.is_valid()
        else:
            form = PartialRefundForm(payment=payment)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund payment {payment.pk}",
            "opts": self.opts,
            "original": payment,
            "form": form,
            "confirming": confirming,
            "refund": form.money() if confirming else None,
        }
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)

    def _report_refund(self, request, payment, refund) -> None:
        """Tell the operator what the gateway said about one refund."""
        if refund.status == Refund.Status.SUCCEEDED:
            self.log_change(request, payment, f"Refunded {refund.amount} ({refund.pk}).")
            self.message_user(request, f"Refunded {refund.amount} of {payment.pk} ({refund.pk}).", messages.SUCCESS)
        elif refund.status == Refund.Status.FAILED:
            self.message_user(
                request, f"The gateway refused to refund {payment.pk}: {refund.failure_message}", messages.ERROR
            )
        else:
            self.log_change(request, payment, f"Refund of {refund.amount} requested ({refund.pk}); pending.")
            self.message_user(
                request,
                f"The refund of {refund.amount} for {payment.pk} is pending at the gateway; it will be reconciled.",
                messages.WARNING,
            )

    @admin.action(description="Refund selected payments in full", permissions=["refund"])
    def refund_in_full(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="refund_in_full",
                title="Refund payments in full?",
                question="What is left of each payment will go back to the customer's card. This cannot be undone.",
            )
        outcomes: dict[str, list[str]] = {"succeeded": [], "pending": [], "refused": []}
        for payment in queryset:
            try:
                refund = payment_refund(payment=payment, reason="Refunded in full from the admin.")
            except DomainError as error:  # this payment is refused; the others still go ahead
                outcomes["refused"].append(f"{payment.pk}: {error.message}")
                continue
            if refund.status == Refund.Status.FAILED:
                outcomes["refused"].append(f"{payment.pk}: {refund.failure_message}")
                continue
            self.log_change(request, payment, f"Refund of {refund.amount} ({refund.pk}): {refund.status}.")
            key = "succeeded" if refund.status == Refund.Status.SUCCEEDED else "pending"
            outcomes[key].append(f"{payment.pk} ({refund.amount})")
        if outcomes["succeeded"]:
            self.message_user(request, f"Refunded in full: {', '.join(outcomes['succeeded'])}.", messages.SUCCESS)
        if outcomes["pending"]:
            self.message_user(
                request,
                f"Pending at the gateway, to be reconciled: {', '.join(outcomes['pending'])}.",
                messages.WARNING,
            )
        if outcomes["refused"]:
            self.message_user(request, f"Not refunded: {'; '.join(outcomes['refused'])}", messages.ERROR)
        return None


def refund_limit_refusal(user, amount: Money) -> str | None:
    """Why this user may not give `amount` back in one refund, or None: finance refunds any amount,
    support up to SUPPORT_REFUND_LIMITS in that currency (none in a currency not listed)."""
    if user.has_perm("payments.change_payment"):
        return None
    currency = amount.currency.code
    limit = settings.SUPPORT_REFUND_LIMITS.get(currency)
    if user.has_perm("payments.refund_up_to_limit") and limit is not None and amount.amount <= Decimal(limit):
        return None
    if limit is None:
        return f"Support cannot refund in {currency}; ask finance."
    return f"Support can refund up to {format_amount(Decimal(limit), currency)} {currency} at a time; ask finance."


def _decimal_or_none(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return None


@admin.register(Refund)
class RefundAdmin(FinanceExportMixin, ReadOnlyAdmin):
    list_display = ["id", "payment", "amount", "status", "reason", "failure_message", "payout", "created_at"]
    actions = ["export_csv"]
    export_columns = ("id", "created_at", "payment_id", "status", "amount_currency", "amount", "reason", "payout_id")
    list_filter = ["status", "amount_currency"]
    search_fields = ["=id", "=payment__id", "payment__customer__external_id", "=gateway_reference"]
    list_select_related = ["payment", "payout"]
    fields = [
        "id",
        "payment",
        "amount",
        "status",
        "reason",
        "gateway_reference",
        "failure_message",
        "payout",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields


class PayoutPaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["amount", "fee", "net", "status", "captured_at"]
    verbose_name_plural = "payments settled in this payout"


class PayoutRefundInline(ReadOnlyInline):
    model = Refund
    fields = ["payment", "amount", "status", "updated_at"]
    verbose_name_plural = "refunds deducted from this payout"


@admin.register(Payout)
class PayoutAdmin(FinanceExportMixin, ReadOnlyAdmin):
    list_display = ["id", "gateway_account", "currency", "amount", "fee_total", "status", "arrival_date", "payments"]
    actions = ["export_csv"]
    export_columns = (
        "id", "created_at", "gateway_account_id", "status", "amount_currency", "amount", "fee_total", "arrival_date",
    )  # fmt: skip
    list_filter = ["gateway_account", "amount_currency", "status"]
    search_fields = ["=id", "=gateway_reference"]
    list_select_related = ["gateway_account"]
    inlines = [PayoutPaymentInline, PayoutRefundInline]
    fields = [
        "id",
        "gateway_account",
        "gateway_reference",
        "amount",
        "fee_total",
        "status",
        "arrival_date",
        "payments",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(payment_count=Count("payments", distinct=True))

    @admin.display(description="currency", ordering="amount_currency")
    def currency(self, payout):
        return payout.amount.currency.code

    @admin.display(description="payments", ordering="payment_count")
    def payments(self, payout):
        return payout.payment_count


class CreditNoteLineInline(DocumentLinesInline):
    model = CreditNoteLine
    fields = ["line", "description", "rate", "net", "tax", "total"]
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice_line")

    @admin.display(description="invoice line")
    def line(self, credit_line):
        return credit_line.invoice_line.position

    @admin.display(description="description")
    def description(self, credit_line):
        return credit_line.invoice_line.description

    @admin.display(description="tax rate")
    def rate(self, credit_line):
        return rate_percent(credit_line.invoice_line.tax_rate)


@admin.register(CreditNote)
class CreditNoteAdmin(DocumentPdfMixin, FinanceExportMixin, ReadOnlyAdmin):
    """What a refund gave back: the refunded share of each line of the invoice and of its tax, at
    the invoice's rates and place (the figures the tax report nets)."""

    list_display = ["number", "invoice", "refund", "total", "tax", "tax_place", "created_at"]
    list_filter = ["currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["number", "=id", "=invoice__id", "=refund__id", "invoice__number"]
    list_select_related = ["invoice", "refund"]
    actions = ["export_csv"]
    export_columns = (
        "id", "number", "created_at", "invoice_id", "refund_id", "currency", "subtotal", "tax", "total",
        "tax_country", "tax_rates", "reverse_charge",
    )  # fmt: skip
    export_prefetch = ("lines__invoice_line",)
    inlines = [CreditNoteLineInline]
    fields = [
        "id",
        "number",
        "invoice",
        "refund",
        "currency",
        "subtotal",
        "tax",
        "total",
        "tax_place",
        "tax_status_words",
        "tax_per_rate",
        "created_at",
    ]
    readonly_fields = fields

    def _breakdown(self, note) -> list[dict]:
        lines = note.lines.all()
        return tax_breakdown(
            invoice=note.invoice, rates_nets_taxes=[(line.invoice_line.tax_rate, line.net, line.tax) for line in lines]
        )

    @admin.display(description="tax country", ordering="invoice__tax_country")
    def tax_place(self, note):
        return tax_place(note.invoice)

    @admin.display(description="tax status (the invoice's)")
    def tax_status_words(self, note):
        return TAX_STATUS_WORDS.get(note.invoice.tax_status, note.invoice.tax_status)

    @admin.display(description="tax per rate")
    def tax_per_rate(self, note):
        return tax_breakdown_table(self._breakdown(note), untaxed=self.tax_status_words(note))

    def document_render(self, note):
        return credit_note_document_render(note=note)

    # Export columns that are not the credit note's own attributes.
    def tax_country(self, note) -> str:
        return note.invoice.tax_country

    def tax_rates(self, note) -> str:
        return breakdown_rates(self._breakdown(note))

    def reverse_charge(self, note) -> bool:
        return note.invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE
