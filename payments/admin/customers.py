"""The customer screen: the profile through the services, with the customer's cards, invoices and
payments. plans.admin.customers registers in its place the customer page, which adds what plans
sells them (payments knows nothing of it)."""

from django import forms
from django.contrib import admin

from integrations.kernel.admin import ReadOnlyInline
from integrations.kernel.errors import InvalidRequest
from payments.admin.columns import _card_expiry, _payment_refunded
from payments.currency import normalize_country
from payments.documents.formatting import locale_tag_read
from payments.models import (
    Customer,
    Invoice,
    Payment,
    PaymentMethod,
)
from payments.services import (
    billing_address_read,
    customer_create,
    customer_update,
)
from payments.services.tax_ids import tax_id_read
from payments.tax.subdivisions import customer_subdivision_read


class CustomerPaymentMethodInline(ReadOnlyInline):
    model = PaymentMethod
    fields = ["brand", "last4", "expiry", "gateway_account", "is_default", "created_at", "detached_at"]
    verbose_name_plural = "cards"
    expiry = staticmethod(_card_expiry)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("gateway_account")


class CustomerInvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = ["number", "status", "total", "created_at", "paid_at"]


class CustomerPaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["amount", "refunded", "status", "payment_method", "decline_code", "created_at"]
    refunded = staticmethod(_payment_refunded)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment_method")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "email", "name", "country", "currency", "created_at"]
    list_filter = ["country", "currency", "tax_id_status", "created_at"]
    search_fields = ["=id", "external_id", "email", "name", "=tax_id"]
    readonly_fields = [
        "id",
        "currency",
        "currency_fixed_at",
        "tax_id_status",
        "tax_id_country",
        "tax_id_verified_at",
        "created_at",
        "updated_at",
    ]
    fields = [
        "id",
        "external_id",
        "email",
        "name",
        "country",
        "subdivision",
        "currency",
        "currency_fixed_at",
        "business_name",
        "billing_address",
        "tax_id",
        "tax_id_status",
        "tax_id_country",
        "tax_id_verified_at",
        "preferred_locale",
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False

    def get_inlines(self, request, obj):
        if obj is None:
            return []
        return [CustomerInvoiceInline, CustomerPaymentInline, CustomerPaymentMethodInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "country" in form.base_fields:  # not for someone who may only view: every field is read-only
            form.base_fields["country"].help_text = "ISO 3166-1 alpha-2, e.g. DE, JP, KW."
            form.clean_country = _clean_country
        if "tax_id" in form.base_fields:  # typed as the customer wrote it (spaces, dots); stored normalised
            form.base_fields["tax_id"] = forms.CharField(
                required=False,
                max_length=40,
                label="Tax id",
                help_text="VAT or business number with its country prefix (EU, GB, CH, NO, AU, NZ, CA). "
                "A new one is verified with VIES after saving.",
            )
            form.clean_tax_id = _clean_tax_id
        if "subdivision" in form.base_fields:  # "CA-QC" is longer than the column, which holds "QC"
            form.base_fields["subdivision"] = forms.CharField(
                required=False,
                max_length=16,
                label="Subdivision",
                help_text="US state or Canadian province or territory for its tax (ISO 3166-2: QC or CA-QC); "
                "empty elsewhere.",
            )
            form.clean_subdivision = _clean_subdivision
        if "preferred_locale" in form.base_fields:
            form.base_fields["preferred_locale"].label = "Language of documents"
            form.base_fields[
                "preferred_locale"
            ].help_text = 'Invoices and credit notes issued from now on: a BCP 47 tag ("de", "de-AT"); empty: English.'
            form.clean_preferred_locale = _clean_preferred_locale
        if "billing_address" in form.base_fields:  # lines: street, postal code and city
            form.base_fields["billing_address"] = forms.CharField(
                required=False,
                max_length=500,
                label="Billing address",
                widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
                help_text="Printed under the name on invoices and credit notes issued from now on: street, "
                "postal code and city, one per line (at most 5 lines).",
            )
            form.clean_billing_address = _clean_billing_address
        return form

    def save_model(self, request, obj, form, change):
        editable = (
            "external_id", "email", "name", "country", "subdivision", "business_name", "tax_id", "preferred_locale",
            "billing_address",
        )  # fmt: skip
        data = {field: form.cleaned_data[field] for field in editable}
        if change:
            saved = customer_update(customer=obj, **{f: v for f, v in data.items() if f in form.changed_data})
        else:
            saved = customer_create(**data)
        obj.pk, obj.currency = saved.pk, saved.currency


def _clean_tax_id(form):
    try:
        tax_id = tax_id_read(raw=form.cleaned_data.get("tax_id"), country=form.cleaned_data.get("country") or "")
    except InvalidRequest as error:
        raise forms.ValidationError(error.message) from None
    return tax_id.number if tax_id else None


def _clean_preferred_locale(form):
    try:
        return locale_tag_read(raw=form.cleaned_data.get("preferred_locale"))
    except InvalidRequest as error:
        raise forms.ValidationError(error.message) from None


def _clean_billing_address(form):
    try:
        return billing_address_read(raw=form.cleaned_data.get("billing_address"))
    except InvalidRequest as error:
        raise forms.ValidationError(error.message) from None


def _clean_subdivision(form):
    if "country" not in form.cleaned_data:  # the country's own error says what is wrong
        return form.cleaned_data.get("subdivision") or ""
    try:
        return customer_subdivision_read(raw=form.cleaned_data.get("subdivision"), country=form.cleaned_data["country"])
    except InvalidRequest as error:
        raise forms.ValidationError(error.message) from None


def _clean_country(form):
    try:
        return normalize_country(form.cleaned_data.get("country"))
    except InvalidRequest as error:
        raise forms.ValidationError(error.message) from None
