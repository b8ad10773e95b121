"""The email outbox, read-only: what was written to a subscriber and whether it went out (support
answers "I never got my receipt"; a sweep sends what is still unsent)."""

from django.contrib import admin

from integrations.kernel.admin import ReadOnlyAdmin
from plans.models import OutgoingEmail


class SentFilter(admin.SimpleListFilter):
    title = "sent"
    parameter_name = "sent"

    def lookups(self, request, model_admin):
        return [("yes", "Sent"), ("no", "Not sent yet")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(sent_at__isnull=self.value() == "no")
        return queryset


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "template", "customer", "invoice", "sent_at"]
    list_filter = [SentFilter, "template"]
    list_select_related = ["customer", "invoice"]
    search_fields = ["customer__id", "customer__external_id", "invoice__number"]
    ordering = ["-created_at"]
    fields = ["customer", "template", "subject", "invoice", "created_at", "sent_at", "text"]
    date_hierarchy = "created_at"
