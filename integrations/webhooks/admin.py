"""Webhook endpoints and deliveries in the admin (the administrator role): the secret shown once after
creation and after a rotation, dead deliveries replayed; every write goes through the services."""

from datetime import UTC

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from integrations.kernel.admin import ConfirmedActionsMixin, ReadOnlyAdmin
from integrations.kernel.errors import DomainError
from integrations.webhooks.models import WebhookDelivery, WebhookEndpoint
from integrations.webhooks.services import (
    webhook_deliveries_replay,
    webhook_endpoint_check,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.CharField(max_length=2048, help_text="https://...; checked against private networks when saved.")
    enabled_events = forms.CharField(
        initial="*",
        help_text="* for every event, or types and patterns separated by commas: payment.succeeded, subscription.*",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "enabled_events", "description", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["enabled_events"] = ", ".join(self.instance.enabled_events or [])

    def clean_enabled_events(self):
        return [part.strip() for part in self.cleaned_data["enabled_events"].split(",") if part.strip()]

    def clean(self):
        cleaned = super().clean()
        if "url" in cleaned and "enabled_events" in cleaned:
            try:  # the services' own checks, shown on the form instead of a server error
                cleaned["url"], cleaned["enabled_events"] = webhook_endpoint_check(
                    url=cleaned["url"], enabled_events=cleaned["enabled_events"]
                )
            except DomainError as error:
                field = (error.param or "").split("[")[0]
                self.add_error(field if field in self.fields else None, error.message)
        return cleaned


class ReplaySinceForm(forms.Form):
    since = forms.SplitDateTimeField(
        required=False, help_text="Dead deliveries created since then (UTC); empty: all of them."
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ConfirmedActionsMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["id", "url", "status", "events", "failing_since", "created_at"]
    list_filter = ["status"]
    search_fields = ["=id", "url", "description"]
    actions = ["rotate_secret", "replay_dead"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["url", "enabled_events", "description"]
        return [
            "id",
            "url",
            "enabled_events",
            "description",
            "status",
            "disabled_reason",
            "failing_since",
            "created_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return ["id", "disabled_reason", "failing_since", "created_at"] if obj else []

    @admin.display(description="events")
    def events(self, endpoint):
        return ", ".join(endpoint.enabled_events or [])

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            webhook_endpoint_update(
                endpoint=obj,
                url=data["url"],
                enabled_events=data["enabled_events"],
                description=data.get("description") or "",
                status=data.get("status") or obj.status,
            )
            return
        secret, endpoint = webhook_endpoint_create(
            url=data["url"], enabled_events=data["enabled_events"], description=data.get("description") or ""
        )
        obj.pk = endpoint.pk
        self.message_user(
            request,
            f"Webhook endpoint created. Copy its signing secret now, it will not be shown again: {secret}",
            messages.WARNING,
        )

    def delete_model(self, request, obj):
        webhook_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_delete(endpoint=endpoint)

    @admin.action(description="Rotate the signing secret (the old one signs for 24 more hours)", permissions=["change"])
    def rotate_secret(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="rotate_secret",
                title="Rotate signing secrets?",
                question="Each endpoint gets a new secret, shown once on the next page; deliveries carry both "
                "signatures for 24 hours, then only the new one.",
            )
        shown = [f"{endpoint.id}: {webhook_endpoint_rotate_secret(endpoint=endpoint)}" for endpoint in queryset]
        self.message_user(
            request,
            "New signing secrets (copy them now, they will not be shown again): " + "; ".join(shown),
            messages.WARNING,
        )
        return None

    @admin.action(description="Replay dead deliveries (since a time)", permissions=["change"])
    def replay_dead(self, request, queryset):
        form = ReplaySinceForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_valid():
            return self._confirm(
                request,
                queryset,
                action="replay_dead",
                title="Replay dead deliveries?",
                question="Every failed delivery of these endpoints (since the time given) is sent again from "
                "its first attempt, with the same webhook-id.",
                form=form,
            )
        since = form.cleaned_data.get("since")
        if since is not None and timezone.is_naive(since):
            since = timezone.make_aware(since, UTC)
        count = sum(webhook_deliveries_replay(endpoint=endpoint, since=since) for endpoint in queryset)
        self.message_user(request, f"{count} dead deliveries queued again.", messages.SUCCESS)
        return None


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "endpoint", "event", "status", "attempt", "response_status", "duration_ms", "next_attempt_at"]
    list_filter = ["status"]
    search_fields = ["=id", "=event__id", "=endpoint__id"]
    list_select_related = ["event", "endpoint"]
    fields = [
        "id",
        "endpoint",
        "event",
        "status",
        "attempt",
        "next_attempt_at",
        "last_attempt_at",
        "response_status",
        "duration_ms",
        "last_error",
        "response_body",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["replay"]

    def has_replay_permission(self, request):
        return request.user.has_perm("integrations.change_webhookdelivery")

    @admin.action(description="Replay selected dead deliveries", permissions=["replay"])
    def replay(self, request, queryset):
        count = 0
        for delivery in queryset.filter(status=WebhookDelivery.Status.FAILED).select_related("endpoint"):
            count += webhook_deliveries_replay(endpoint=delivery.endpoint, delivery_ids=[delivery.pk])
        self.message_user(request, f"{count} dead deliveries queued again.", messages.SUCCESS)
