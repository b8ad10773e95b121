from django import forms
from django.contrib import admin, messages

from integrations.kernel.admin import ConfirmedActionsMixin, ReadOnlyAdmin
from integrations.kernel.api_keys import SCOPES, api_key_create, api_key_revoke
from integrations.models import ApiKey, Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "customer_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["=id", "=customer_id", "type"]
    readonly_fields = ["id", "type", "customer_id", "created_at", "payload"]
    date_hierarchy = "created_at"


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What the key may do; none ticked = all.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(ConfirmedActionsMixin, admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        return ["prefix", "scopes", "created_at", "last_used_at", "revoked_at"] if obj else []

    def get_fields(self, request, obj=None):
        return ["name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"] if obj else ["name", "scopes"]

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)  # the role first; a revoked key stays revoked
        return allowed and (obj is None or obj.revoked_at is None)

    def save_model(self, request, obj, form, change):
        if change:
            ApiKey.objects.filter(pk=obj.pk).update(name=obj.name)
            return
        raw, key = api_key_create(name=obj.name, scopes=form.cleaned_data.get("scopes"))
        obj.pk = key.pk
        self.message_user(
            request,
            f"API key created. Copy it now, it will not be shown again: {raw}",
            messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the audit trail keeps who had access

    def action_name(self, obj) -> str:
        return str(obj)

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="revoke_selected",
                title="Revoke API keys?",
                question="Clients using these keys will get 401 from now on.",
            )

        def revoke(key):
            api_key_revoke(api_key=key)
            return True, "revoked"

        self._each(request, queryset, done="Revoked", call=revoke)
        return None
