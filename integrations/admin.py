from django.contrib import admin

from integrations.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "customer_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["=id", "=customer_id", "type"]
    readonly_fields = ["id", "type", "customer_id", "created_at", "payload"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
