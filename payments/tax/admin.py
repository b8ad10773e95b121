"""Finance's tax screens: registrations (the switch that turns a region's tax on), rate rows
(a change is a new row; a row in force is read-only) and the tax report. Every write goes through
payments.tax.services, whose checks are the forms' checks."""

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from integrations.kernel.admin import AdminScreen, ServiceRefusalsMixin, admin_screen_register
from integrations.kernel.audit import audit_record
from integrations.kernel.csv_export import csv_response
from integrations.kernel.errors import DomainError
from payments.tax.models import TaxRate, TaxRegistration
from payments.tax.report import tax_report, tax_report_period, tax_report_table
from payments.tax.rules import rate_repr
from payments.tax.selectors import tax_today
from payments.tax.services import (
    tax_rate_add,
    tax_rate_update,
    tax_rate_validate,
    tax_registration_create,
    tax_registration_update,
    tax_registration_validate,
)

_REGISTRATION_FIELDS = ["country", "subdivision", "scheme", "number", "active_from", "expires_at"]
_REGISTRATION_EDITABLE = ["number", "active_from", "expires_at"]
_RATE_FIELDS = [
    "country",
    "subdivision",
    "category",
    "name",
    "rate",
    "adds_to_country",
    "valid_from",
    "source",
    "source_date",
]
_RATE_EDITABLE = ["name", "rate", "source", "source_date"]

_REGISTRATION_HELP = (
    "Nothing is taxed where no registration is active: a registration turns on tax for its country (or US/CA "
    "subdivision) from its first day. An eu_oss registration covers consumers in every EU member state at "
    "their own rate. Expire a registration to stop collecting; country, subdivision and scheme never change."
)
_RATE_HELP = (
    "A rate change is a new row: it starts on its valid_from and the row in force that day ends there. "
    "Rows in force or past are read-only (past invoices keep their rates); a row not in force yet can be "
    "corrected. Rates are fractions: 0.19 is 19%."
)


class _ServiceCheckedForm(forms.ModelForm):
    """A form whose clean() runs the service's checks: their errors land on the field they name,
    and the normalized values replace what was typed."""

    editable: tuple[str, ...] = ()

    def service_validate(self, values: dict) -> dict:
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values = {name: cleaned.get(name) for name in self.editable if name in self.fields}
        try:
            self.values = self.service_validate(values)
        except DomainError as error:
            self.add_error(error.param if error.param in self.fields else None, error.message)
            return cleaned
        cleaned.update({name: value for name, value in self.values.items() if name in self.fields})
        return cleaned


class TaxRegistrationForm(_ServiceCheckedForm):
    class Meta:
        model = TaxRegistration
        fields = _REGISTRATION_FIELDS

    @property
    def editable(self):
        return _REGISTRATION_EDITABLE if not self.instance._state.adding else _REGISTRATION_FIELDS

    def service_validate(self, values):
        if not self.instance._state.adding:
            return tax_registration_validate(registration=self.instance, **values)
        return tax_registration_validate(**values)


@admin.register(TaxRegistration)
class TaxRegistrationAdmin(ServiceRefusalsMixin, admin.ModelAdmin):
    form = TaxRegistrationForm
    list_display = ["id", "country", "subdivision", "scheme", "number", "active_from", "expires_at", "status"]
    list_filter = ["scheme", "country"]
    search_fields = ["=id", "=country", "number"]
    ordering = ["-created_at", "-id"]

    def get_fields(self, request, obj=None):
        return ["id", *_REGISTRATION_FIELDS, "status", "created_at", "updated_at"] if obj else _REGISTRATION_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["id", "country", "subdivision", "scheme", "status", "created_at", "updated_at"]

    @admin.display(description="status (today)")
    def status(self, registration):
        return registration.status_on(tax_today())

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"subtitle": _REGISTRATION_HELP, **(extra_context or {})})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        context = {"subtitle": _REGISTRATION_HELP, **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)

    def save_model(self, request, obj, form, change):
        values = form.values
        if change:
            saved = tax_registration_update(registration=obj, **{name: values[name] for name in _REGISTRATION_EDITABLE})
        else:
            saved = tax_registration_create(**values)
        obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at

    def has_delete_permission(self, request, obj=None):
        return False  # a registration is history: expire it instead


class TaxRateForm(_ServiceCheckedForm):
    class Meta:
        model = TaxRate
        fields = _RATE_FIELDS

    @property
    def editable(self):
        return _RATE_EDITABLE if not self.instance._state.adding else _RATE_FIELDS

    def service_validate(self, values):
        if not self.instance._state.adding:
            return tax_rate_validate(rate_row=self.instance, **values)
        return tax_rate_validate(**values)


class RatePeriodFilter(admin.SimpleListFilter):
    title = "period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        return [("in_force", "in force today"), ("scheduled", "not in force yet"), ("past", "past")]

    def queryset(self, request, queryset):
        today = tax_today()
        if self.value() == "in_force":
            return queryset.filter(valid_from__lte=today).exclude(valid_to__lte=today)
        if self.value() == "scheduled":
            return queryset.filter(valid_from__gt=today)
        if self.value() == "past":
            return queryset.filter(valid_to__lte=today)
        return queryset


@admin.register(TaxRate)
class TaxRateAdmin(ServiceRefusalsMixin, admin.ModelAdmin):
    form = TaxRateForm
    list_display = ["country", "subdivision", "category", "name", "percent", "valid_from", "valid_to", "in_force"]
    list_filter = [RatePeriodFilter, "category", "name", "country"]
    search_fields = ["=country", "=subdivision", "category"]
    ordering = ["country", "subdivision", "category", "valid_from"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return _RATE_FIELDS
        return [*_RATE_FIELDS[:6], "valid_from", "valid_to", "source", "source_date", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [name for name in self.get_fields(request, obj) if name not in _RATE_EDITABLE]

    @admin.display(description="rate")
    def percent(self, row):
        return f"{rate_repr(row.rate * 100)}%"

    @admin.display(description="in force today", boolean=True)
    def in_force(self, row):
        return row.is_in_force_on(tax_today())

    def has_change_permission(self, request, obj=None):
        # A row in force or past is read-only (its page shows it); one not in force yet can be corrected.
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.valid_from > tax_today())

    def has_delete_permission(self, request, obj=None):
        return False  # invoices were taxed at it: a change is a new row

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"subtitle": _RATE_HELP, **(extra_context or {})})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        context = {"subtitle": _RATE_HELP, **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)

    def save_model(self, request, obj, form, change):
        values = form.values
        if change:
            saved = tax_rate_update(rate_row=obj, **{name: values[name] for name in _RATE_EDITABLE})
        else:
            saved = tax_rate_add(**values)
        obj.pk, obj.valid_to, obj.created_at = saved.pk, saved.valid_to, saved.created_at


# --- The tax report ------------------------------------------------------------------------------

TAX_REPORT_PERMISSION = "payments.view_tax_report"
_REPORT_HELP = (
    "Taxable amounts and tax per country, rate and currency: the lines of invoices paid in the period (by "
    "the day they were paid, UTC) that collected tax or were reverse-charged, less the credit notes issued "
    "in it on such invoices. Invoices that owed no tax (no registration, no rate) are left out."
)


def _last_quarter(today: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar quarter before today's: what an OSS return covers."""
    first_month = (today.month - 1) // 3 * 3 + 1
    end = dt.date(today.year, first_month, 1) - dt.timedelta(days=1)
    return dt.date(end.year, end.month - 2, 1), end


class TaxReportForm(forms.Form):
    """The period, checked as the report's selector checks it (its error lands on the field it names)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        # "from" is a Python keyword, and the API's name: the fields are named here.
        self.fields["from"] = forms.DateField(label="From", input_formats=["%Y-%m-%d"], widget=widget)
        self.fields["to"] = forms.DateField(
            label="To", input_formats=["%Y-%m-%d"], widget=widget, help_text="Included. Days are UTC."
        )

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                tax_report_period(date_from=cleaned["from"], date_to=cleaned["to"])
            except DomainError as error:
                self.add_error(error.param if error.param in self.fields else None, error.message)
        return cleaned


def tax_report_view(request, *, site):
    """Finance's report screen: the period's form, the rows in a table, a CSV download of the same
    rows (audited, as every finance export is)."""
    if not request.user.has_perm(TAX_REPORT_PERMISSION):
        raise PermissionDenied  # the admin site refuses first; checked again here, as every screen does
    start, end = _last_quarter(tax_today())
    form = TaxReportForm(request.GET or {"from": start.isoformat(), "to": end.isoformat()})
    report = (
        tax_report(date_from=form.cleaned_data["from"], date_to=form.cleaned_data["to"]) if form.is_valid() else None
    )
    if report is not None and request.GET.get("format") == "csv":
        audit_record(
            action="tax_report.exported",
            object_type="tax_report",
            object_id="",
            changes={
                "from": [None, report.date_from.isoformat()],
                "to": [None, report.date_to.isoformat()],
                "rows": [None, len(report.rows)],
            },
        )
        name = f"tax-report-{report.date_from.isoformat()}-{report.date_to.isoformat()}.csv"
        return csv_response(tax_report_table(report), filename=name)
    table = list(tax_report_table(report)) if report is not None else []
    context = {
        **site.each_context(request),
        "title": "Tax report",
        "subtitle": _REPORT_HELP,
        "form": form,
        "report": report,
        "header": table[0] if table else (),
        "rows": table[1:],
        "csv_query": f"from={report.date_from.isoformat()}&to={report.date_to.isoformat()}&format=csv"
        if report is not None
        else "",
    }
    return TemplateResponse(request, "admin/payments/tax_report.html", context)


admin_screen_register(
    AdminScreen(
        app_label="payments",
        slug="tax-report",
        name="Tax report",
        permission=TAX_REPORT_PERMISSION,
        view=tax_report_view,
    )
)
