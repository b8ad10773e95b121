"""Admin bases for every app: read-only screens and inlines (the services write the rows),
actions that ask first and then call one service per selected row, and screens that are no
model's list (reports)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from integrations.kernel.audit import audit_object_type, audit_record
from integrations.kernel.csv_export import csv_response
from integrations.kernel.errors import DomainError
from integrations.kernel.representation import datetime_repr

# What one action did to one row: (done, what to tell the operator).
Outcome = tuple[bool, str]


class ConfirmedActionsMixin:
    """For a ModelAdmin: `_confirm` renders templates/admin/confirm_action.html (nothing happens
    until it is posted back with confirm=yes); `_each` runs a service per row, reports successes
    and refusals, and never lets one refusal stop the others. Each row's outcome goes to the audit
    log as `<object type>.<action>`, by the signed-in user (the services' own changes too)."""

    def has_operate_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def action_name(self, obj) -> str:
        """How a row is named in a success message."""
        return str(obj.pk)

    def action_ref(self, obj) -> str:
        """How a row is named when it was refused."""
        return str(obj.pk)

    def action_queryset(self, queryset):
        return queryset

    def _confirm(self, request, queryset, *, action: str, title: str, question: str, form=None):
        return TemplateResponse(
            request,
            "admin/confirm_action.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "question": question,
                "objects": queryset,
                "action": action,
                "opts": self.opts,
                "form": form,
            },
        )

    def _audit(self, request, obj, *, outcome: str, text: str) -> None:
        object_type = audit_object_type(type(obj))
        action = request.POST.get("action") or "admin_action"
        audit_record(
            action=f"{object_type}.{action}"[:100],
            object_type=object_type,
            object_id=str(obj.pk),
            changes={"result": [None, text]},
            outcome=outcome,
        )

    def _each(self, request, queryset, *, done: str, call: Callable[[object], Outcome]) -> None:
        succeeded, failed = [], []
        for obj in self.action_queryset(queryset):
            try:
                ok, text = call(obj)
            except DomainError as error:  # the service refused this one and rolled back its own work
                failed.append(f"{self.action_ref(obj)}: {error.message}")
                self._audit(request, obj, outcome="refused", text=error.message)
                continue
            if ok:
                self.log_change(request, obj, f"{done}: {text}.")
                succeeded.append(f"{self.action_name(obj)} ({text})")
                self._audit(request, obj, outcome="succeeded", text=f"{done}: {text}")
            else:
                failed.append(f"{self.action_ref(obj)}: {text}")
                self._audit(request, obj, outcome="refused", text=text)
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)
        if failed:
            self.message_user(request, f"Not done: {'; '.join(failed)}", messages.ERROR)


class ServiceRefusalsMixin:
    """A change form whose save goes through a service: a DomainError the service raises (its
    transaction rolled back) is shown as a message on the same form instead of a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyInlineFormSet(forms.BaseInlineFormSet):
    """A formset that only displays: it ignores posted data (so a parent form posted without its
    management form still saves) and never writes."""

    def __init__(self, data=None, files=None, *args, **kwargs):
        super().__init__(None, None, *args, **kwargs)

    def is_valid(self):
        return True

    def has_changed(self):
        return False

    def save(self, commit=True):
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        return []


class ReadOnlyInline(admin.TabularInline):
    formset = ReadOnlyInlineFormSet
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """A view-only screen: rows are written by the services, never from here."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CsvExportMixin:
    """For a ModelAdmin: "Export selected as CSV" (tick rows, or "select all" for the whole
    filtered list), the `export_columns` attributes of each row, for those with
    `export_permission` (a column is the row's attribute, or the admin's method of that name given
    the row); every export is audited (who took a copy of what, and how many rows)."""

    export_columns: tuple[str, ...] = ()
    export_permission = ""  # "app_label.codename"

    def has_export_permission(self, request):
        return request.user.has_perm(self.export_permission)

    def export_value(self, value):
        if isinstance(value, datetime):
            return datetime_repr(value)
        return "" if value is None else value

    def _export_cell(self, obj, column: str):
        own = getattr(self, column, None)
        return own(obj) if callable(own) else getattr(obj, column)

    @admin.action(description="Export selected as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        name = self.opts.model_name
        audit_record(
            action=f"{audit_object_type(self.model)}.exported",
            object_type=audit_object_type(self.model),
            object_id="",
            changes={"rows": [None, queryset.count()]},
        )
        rows = (
            [self.export_value(self._export_cell(obj, column)) for column in self.export_columns]
            for obj in queryset.order_by("pk").iterator(chunk_size=2000)
        )
        header = [list(self.export_columns)]
        return csv_response((row for part in (header, rows) for row in part), filename=f"{name}s.csv")


@dataclass(frozen=True)
class AdminScreen:
    """A back-office page that is no model's list (a report). The admin site mounts it at
    `<app_label>/<slug>/` (URL name `admin:<url_name>`) behind the sign-in and second factor,
    answers 403 to a staff member without `permission`, and lists it in the index beside the
    models of its team (mediamanager's admin site: `app_label.slug` may be named in a team's
    list) for those who hold it. `view(request, *, site)` renders it."""

    app_label: str
    slug: str  # "tax-report"
    name: str  # as the index shows it: "Tax report"
    permission: str  # "app_label.codename"
    view: Callable

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.slug}"

    @property
    def url_name(self) -> str:
        return f"{self.app_label}_{self.slug.replace('-', '_')}"

    @property
    def object_name(self) -> str:
        """What the index names it by, as a model's class name: TaxReport."""
        return "".join(part.capitalize() for part in self.slug.split("-"))


_SCREENS: dict[str, AdminScreen] = {}


def admin_screen_register(screen: AdminScreen) -> AdminScreen:
    """Register a screen (from an app's admin module, which the admin imports at start-up)."""
    _SCREENS[screen.label] = screen
    return screen


def admin_screens() -> tuple[AdminScreen, ...]:
    return tuple(_SCREENS.values())
