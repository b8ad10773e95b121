import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from integrations.kernel.admin import ConfirmedActionsMixin, ReadOnlyAdmin
from integrations.kernel.api_keys import SCOPES, api_key_create, api_key_rename, api_key_revoke
from integrations.kernel.audit import audit_record
from integrations.kernel.csv_export import csv_response
from integrations.kernel.representation import datetime_repr
from integrations.models import ApiKey, AuditEvent, Event
from integrations.webhooks import admin as webhooks_admin  # noqa: F401  (registers the webhook screens)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "customer_id", "actor", "created_at"]
    list_filter = ["type", "actor_type"]
    search_fields = ["=id", "=customer_id", "type", "=actor_id", "actor_name"]
    readonly_fields = ["id", "type", "customer_id", "actor", "created_at", "payload"]
    fields = readonly_fields
    date_hierarchy = "created_at"

    @admin.display(description="actor", ordering="actor_name")
    def actor(self, event):
        return f"{event.actor_name} ({event.actor_type})" if event.actor_type else "—"


class AuditActionFilter(admin.SimpleListFilter):
    """By action, offering those of the last 90 days (all of them would read the whole log)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        since = timezone.now() - timedelta(days=90)
        actions = AuditEvent.objects.filter(at__gte=since).values_list("action", flat=True).distinct()
        return [(action, action) for action in sorted(actions)[:200]]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


AUDIT_CSV_HEADER = ("id", "at", "actor_type", "actor_id", "actor_name", "action", "object_type", "object_id")
AUDIT_CSV_HEADER += ("outcome", "ip", "user_agent", "changes")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit log: read-only for everyone, superusers included (the database refuses changes too)."""

    list_display = ["at", "actor_type", "actor_name", "action", "object_type", "object_id", "outcome", "ip"]
    # No date hierarchy: its year/month links read every row's date; these filters read an index.
    list_filter = ["actor_type", "outcome", ("at", admin.DateFieldListFilter), AuditActionFilter]
    search_fields = ["=actor_id", "=actor_name", "=object_id"]
    actions = ["export_csv"]
    fields = [
        "id",
        "at",
        "actor_type",
        "actor_id",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "outcome",
        "changes_table",
        "ip",
        "user_agent",
    ]
    readonly_fields = fields

    @admin.display(description="changes")
    def changes_table(self, event):
        if not event.changes:
            return "—"
        rows = mark_safe("<tr><th>field</th><th>before</th><th>after</th></tr>")
        for field, pair in event.changes.items():
            before, after = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
            rows += format_html(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", field, json.dumps(before), json.dumps(after)
            )
        return format_html("<table>{}</table>", rows)

    @admin.action(description="Export selected audit events as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        rows = (
            (
                event.id,
                datetime_repr(event.at),
                event.actor_type,
                event.actor_id,
                event.actor_name,
                event.action,
                event.object_type,
                event.object_id,
                event.outcome,
                event.ip,
                event.user_agent,
                json.dumps(event.changes, sort_keys=True),
            )
            for event in queryset.order_by("-at", "-id").iterator(chunk_size=2000)
        )
        # Reading the log is recorded too: who took a copy of it, and how much.
        audit_record(
            action="audit_event.exported",
            object_type="audit_event",
            object_id="",
            changes={"rows": [None, queryset.count()]},
        )
        return csv_response(_with_header(rows), filename="audit-events.csv")


def _with_header(rows):
    yield AUDIT_CSV_HEADER
    yield from rows


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
            api_key_rename(api_key=obj, name=obj.name)
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
