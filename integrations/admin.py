import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from integrations.connectors import admin as connectors_admin  # noqa: F401  (registers the Xero mapping screen)
from integrations.connectors.registry import KINDS
from integrations.connectors.services import (
    connector_backoff_reset,
    connector_create,
    connector_disable,
    connector_enable,
    connector_run,
    connector_update,
)
from integrations.kernel.admin import ConfirmedActionsMixin, ReadOnlyAdmin, ServiceRefusalsMixin
from integrations.kernel.api_keys import SCOPES, api_key_create, api_key_rename, api_key_revoke
from integrations.kernel.audit import audit_record
from integrations.kernel.csv_export import csv_response
from integrations.kernel.models import SigningKey
from integrations.kernel.representation import datetime_repr
from integrations.kernel.signing import PUBLISH_AHEAD, keys_forget, published_keys, signing_key_rotate
from integrations.models import ApiKey, AuditEvent, Connector, ConnectorRecord, Event
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


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    """The keys that sign entitlement tokens. Adding one rotates: the new key is published at once
    and signs PUBLISH_AHEAD later; the private halves are never shown."""

    list_display = ["kid", "state", "signs_from", "created_at"]

    def changelist_view(self, request, extra_context=None):
        keys_forget()  # the states from the table, not this process's copy (another one may have rotated)
        return super().changelist_view(request, extra_context)

    def get_fields(self, request, obj=None):
        return ["kid", "public_x", "signs_from", "created_at"] if obj else []

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="State")
    def state(self, obj):
        now = timezone.now()
        published = published_keys(now)
        if obj.kid not in {key.kid for key in published}:
            return "retired"
        if obj.signs_from > now:
            return "published, signs soon"
        signing = next((key.kid for key in published if key.signs_from <= now), None)
        return "signing" if obj.kid == signing else "published until its tokens expire"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        key = signing_key_rotate()
        obj.pk, obj.kid = key.pk, key.kid
        minutes = int(PUBLISH_AHEAD.total_seconds() // 60)
        self.message_user(request, f"New signing key {key.kid}: published now, signs in {minutes} minutes.")


# --- Connectors -----------------------------------------------------------------------------------

_CREDENTIAL_PREFIX = "credential_"
_SETTING_PREFIX = "setting_"


class ConnectorForm(forms.ModelForm):
    """Name, base URL and the kind's credentials as write-only fields (never rendered back)."""

    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=(
            "The vendor's API address; blank keeps the current one (HubSpot: https://api.hubapi.com; "
            "Mailchimp: blank derives https://<dc>.api.mailchimp.com/3.0 from the API key)."
        ),
    )
    adding = True

    class Meta:
        model = Connector
        fields = ["kind", "name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.adding:
            self.initial["base_url"] = (self.instance.settings or {}).get("base_url", "")
        current = self.instance.settings or {}
        for name, help_text in self.setting_fields().items():
            self.fields[_SETTING_PREFIX + name] = forms.CharField(
                label=name, required=False, max_length=200, help_text=help_text, initial=current.get(name, "")
            )
        stored = self.instance.credentials or {}
        for name in self.credential_names():
            self.fields[_CREDENTIAL_PREFIX + name] = forms.CharField(
                label=name,
                required=False,
                help_text="A value is stored: leave blank to keep it." if stored.get(name) else "Not set.",
                # render_value=False: the stored (or just typed) value never goes back into the page.
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            )

    def credential_names(self) -> tuple[str, ...]:
        kinds = [self.instance.kind] if not self.adding else list(KINDS)
        return tuple(dict.fromkeys(name for kind in kinds if kind in KINDS for name in KINDS[kind].credential_names))

    def setting_fields(self) -> dict[str, str]:
        """The kinds' own settings (adding: every kind's, each saved only for its own kind)."""
        kinds = [self.instance.kind] if not self.adding else list(KINDS)
        return {name: text for kind in kinds if kind in KINDS for name, text in KINDS[kind].setting_fields.items()}

    def kind_settings(self, kind: str) -> dict[str, str]:
        """What was typed for the kind's settings; adding, a blank one keeps the kind's default."""
        names = KINDS[kind].setting_fields if kind in KINDS else {}
        typed = {name: (self.cleaned_data.get(_SETTING_PREFIX + name) or "").strip() for name in names}
        return {name: value for name, value in typed.items() if value or not self.adding}

    def credentials(self) -> dict[str, str]:
        return {
            name: self.cleaned_data[_CREDENTIAL_PREFIX + name]
            for name in self.credential_names()
            if self.cleaned_data.get(_CREDENTIAL_PREFIX + name)
        }


@admin.register(Connector)
class ConnectorAdmin(ServiceRefusalsMixin, ConfirmedActionsMixin, admin.ModelAdmin):
    form = ConnectorForm
    list_display = [
        "name",
        "kind",
        "enabled",
        "status",
        "consecutive_failures",
        "short_error",
        "last_success_at",
        "next_attempt_at",
        "cursor",
    ]
    list_filter = ["kind", "enabled", "status"]
    search_fields = ["=id", "name"]
    actions = ["enable_selected", "disable_selected", "run_now", "reset_backoff"]
    _health = [
        "status",
        "last_error",
        "last_error_at",
        "last_success_at",
        "consecutive_failures",
        "next_attempt_at",
        "cursor",
        "events_handled",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = type("ConnectorForm", (ConnectorForm,), {"adding": obj is None})
        kwargs["fields"] = ["kind", "name"] if obj is None else ["name"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["id", "kind", "enabled", "stored_credentials", *self._health, "created_at", "updated_at"]

    def get_fieldsets(self, request, obj=None):
        form = type("ConnectorForm", (ConnectorForm,), {"adding": obj is None})(instance=obj)
        credential_fields = [_CREDENTIAL_PREFIX + name for name in form.credential_names()]
        head = ["kind", "name", "base_url"] if obj is None else ["id", "kind", "name", "enabled", "base_url"]
        head += [_SETTING_PREFIX + name for name in form.setting_fields()]
        credentials = ["stored_credentials", *credential_fields] if obj else credential_fields
        fieldsets = [
            (None, {"fields": head}),
            (
                "Credentials",
                {
                    "fields": credentials,
                    "description": "Write-only: stored encrypted and never shown again. A blank field keeps the stored value.",
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    "Health",
                    {
                        "fields": self._health,
                        "description": "Enable, disable, run now and reset the back-off from the list's actions.",
                    },
                )
            )
        return fieldsets

    @admin.display(description="stored credentials")
    def stored_credentials(self, connector):
        stored = connector.credentials or {}
        rows = [(name, "stored (hidden)" if value else "not set") for name, value in stored.items()]
        return format_html_join("", "<div><code>{}</code>: {}</div>", rows) or "none"

    @admin.display(description="last error")
    def short_error(self, connector):
        return (connector.last_error[:120] + "…") if len(connector.last_error) > 120 else connector.last_error or "—"

    @admin.display(description="cursor")
    def cursor(self, connector):
        if not connector.cursor_seq:
            return "before the first event"
        return f"#{connector.cursor_seq} {datetime_repr(connector.cursor_created_at)} {connector.cursor_event_id}"

    def save_model(self, request, obj, form, change):
        base_url = form.cleaned_data.get("base_url")
        settings_ = {"base_url": base_url} if base_url else {}
        settings_ |= form.kind_settings(obj.kind if change else form.cleaned_data["kind"])
        if change:
            saved = connector_update(
                connector=obj, name=form.cleaned_data["name"], credentials=form.credentials(), settings=settings_
            )
        else:
            saved = connector_create(
                kind=form.cleaned_data["kind"],
                name=form.cleaned_data["name"],
                credentials=form.credentials(),
                settings=settings_,
            )
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: its records hold the vendor's ids

    def action_name(self, obj) -> str:
        return obj.name

    def action_ref(self, obj) -> str:
        return obj.name

    @admin.action(description="Enable selected connectors (resume from their cursor)", permissions=["change"])
    def enable_selected(self, request, queryset):
        self._each(request, queryset, done="Enabled", call=lambda c: (True, connector_enable(connector=c).status))

    @admin.action(description="Disable selected connectors (the cursor stays)", permissions=["change"])
    def disable_selected(self, request, queryset):
        self._each(request, queryset, done="Disabled", call=lambda c: (True, connector_disable(connector=c).status))

    @admin.action(description="Run selected connectors now", permissions=["change"])
    def run_now(self, request, queryset):
        def run(connector):
            result = connector_run(connector=connector, force=True)
            if result.error:
                return False, f"{result.handled} events sent, then: {result.error}"
            if not result.ran:
                return False, {"busy": "already running", "disabled": "disabled"}.get(result.skipped, result.skipped)
            return True, f"{result.handled} events"

        self._each(request, queryset, done="Ran", call=run)

    @admin.action(description="Reset the back-off of selected connectors", permissions=["change"])
    def reset_backoff(self, request, queryset):
        self._each(
            request, queryset, done="Back-off reset", call=lambda c: (True, connector_backoff_reset(connector=c).status)
        )


@admin.register(ConnectorRecord)
class ConnectorRecordAdmin(ReadOnlyAdmin):
    """Which vendor record each of our objects is (read-only: the runner writes them)."""

    list_display = ["connector", "object_type", "object_id", "external_id", "updated_at"]
    list_filter = ["connector", "object_type"]
    search_fields = ["=object_id", "=external_id"]
    fields = ["connector", "object_type", "object_id", "external_id", "state", "created_at", "updated_at"]
    readonly_fields = fields
