"""Exchange rates in the admin: finance and administrators add and correct them (audited)."""

from django.contrib import admin

from payments.fx.models import ExchangeRate


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["date", "base", "quote", "rate", "updated_at"]
    list_filter = ["base", "quote"]
    search_fields = ["=base", "=quote"]
    date_hierarchy = "date"
    ordering = ["-date", "base", "quote"]
    fields = ["date", "base", "quote", "rate", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.base, obj.quote = obj.base.upper(), obj.quote.upper()
        super().save_model(request, obj, form, change)
