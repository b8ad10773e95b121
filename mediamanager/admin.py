from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from mediamanager.models import ApiKey
from mediamanager.services import api_key_create, api_key_revoke


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        return ["prefix", "created_at", "last_used_at", "revoked_at"] if obj else []

    def get_fields(self, request, obj=None):
        return ["name", "prefix", "created_at", "last_used_at", "revoked_at"] if obj else ["name"]

    def has_change_permission(self, request, obj=None):
        return obj is None or obj.revoked_at is None

    def save_model(self, request, obj, form, change):
        if change:
            ApiKey.objects.filter(pk=obj.pk).update(name=obj.name)
            return
        raw, key = api_key_create(name=obj.name)
        obj.pk = key.pk
        self.message_user(
            request,
            f"API key created. Copy it now, it will not be shown again: {raw}",
            messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the audit trail keeps who had access

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/confirm_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Revoke API keys?",
                    "question": "Clients using these keys will get 401 from now on.",
                    "objects": queryset,
                    "action": "revoke_selected",
                    "opts": self.model._meta,
                },
            )
        for key in queryset:
            api_key_revoke(api_key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
        return None
