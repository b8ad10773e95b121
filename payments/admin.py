from django import forms
from django.contrib import admin

from integrations.errors import InvalidRequest
from payments.currency import normalize_country
from payments.models import Customer
from payments.services import customer_create, customer_update


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "email", "name", "country", "currency", "created_at"]
    list_filter = ["country", "currency", "created_at"]
    search_fields = ["=id", "external_id", "email", "name"]
    readonly_fields = ["id", "currency", "currency_fixed_at", "created_at", "updated_at"]
    fields = [
        "id",
        "external_id",
        "email",
        "name",
        "country",
        "currency",
        "currency_fixed_at",
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["country"].help_text = "ISO 3166-1 alpha-2, e.g. DE, JP, KW."
        form.clean_country = _clean_country
        return form

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in ("external_id", "email", "name", "country")}
        if change:
            saved = customer_update(customer=obj, **{f: v for f, v in data.items() if f in form.changed_data})
        else:
            saved = customer_create(**data)
        obj.pk, obj.currency = saved.pk, saved.currency


def _clean_country(form):
    try:
        return normalize_country(form.cleaned_data.get("country"))
    except InvalidRequest as error:
        raise forms.ValidationError(error.message) from None
