"""Connectors' own admin screens (the connector list and its actions are in integrations/admin.py):
the Xero mapping, where an administrator sets the organisation's tenant and which AccountCode each
plan posts to, which TaxType each tax case takes and the account payments go through. The form
parses the text an operator types; xero_settings_update checks and stores it (audited)."""

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from integrations.connectors.xero import DEFAULT_TOKEN_URL, TAX_STATUSES, xero_settings_update
from integrations.kernel.admin import AdminScreen, admin_screen_register
from integrations.kernel.errors import DomainError
from integrations.models import Connector, Event

XERO_MAPPING_PERMISSION = "integrations.change_connector"  # the administrator role's
_FIELDS = (
    "tenant_id",
    "token_url",
    "default_account_code",
    "plan_account_codes",
    "default_tax_type",
    "tax_types",
    "payment_account_code",
)
_RATE = re.compile(r"^\d+(\.\d+)?%?$")


class XeroMappingForm(forms.Form):
    tenant_id = forms.CharField(
        label="Tenant id", max_length=64, help_text="The organisation's id in Xero (a UUID), sent as xero-tenant-id."
    )
    token_url = forms.CharField(
        label="Token URL", max_length=500, required=False, help_text=f"Blank for Xero's: {DEFAULT_TOKEN_URL}"
    )
    default_account_code = forms.CharField(
        label="Default account code",
        max_length=10,
        required=False,
        help_text="Where a line of a plan not listed below posts (e.g. 200 Sales). Blank: such a line stops the connector.",
    )
    plan_account_codes = forms.CharField(
        label="Account code per plan",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60, "placeholder": "stream-monthly = 201"}),
        help_text="One line per plan: plan code = account code.",
    )
    default_tax_type = forms.CharField(
        label="Default tax type",
        max_length=50,
        required=False,
        help_text="For a line no rule below matches. Blank: such a line stops the connector.",
    )
    tax_types = forms.CharField(
        label="Tax type rules",
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "cols": 60,
                "placeholder": "collecting DE 19% = OUTPUT2\nreverse_charge = ECOUTPUTSERVICES",
            }
        ),
        help_text=(
            f"One line per rule: tax status ({', '.join(TAX_STATUSES)}), then optionally a country and a rate, "
            "= the Xero TaxType. The most specific rule wins: country and rate, then country, then rate, then the "
            "status alone."
        ),
    )
    payment_account_code = forms.CharField(
        label="Payment account code",
        max_length=10,
        required=False,
        help_text="The bank or clearing account (e.g. 090) payments go into and refunds come out of.",
    )

    @staticmethod
    def initial_of(settings_: dict) -> dict:
        plans = "\n".join(f"{plan} = {code}" for plan, code in (settings_.get("plan_account_codes") or {}).items())
        rules = "\n".join(
            " ".join(part for part in (rule["tax_status"], rule.get("country"), rule.get("rate")) if part)
            + f" = {rule['tax_type']}"
            for rule in settings_.get("tax_types") or []
        )
        token_url = settings_.get("token_url") or ""
        return {
            "tenant_id": settings_.get("tenant_id") or "",
            "token_url": "" if token_url == DEFAULT_TOKEN_URL else token_url,
            "default_account_code": settings_.get("default_account_code") or "",
            "plan_account_codes": plans,
            "default_tax_type": settings_.get("default_tax_type") or "",
            "tax_types": rules,
            "payment_account_code": settings_.get("payment_account_code") or "",
        }

    @staticmethod
    def _pairs(text: str, field: str) -> list[tuple[int, str, str]]:
        pairs = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            left, sep, right = line.partition("=")
            if not sep or not left.strip() or not right.strip():
                raise forms.ValidationError(f"Line {number}: write it as '… = …'.", code=field)
            pairs.append((number, left.strip(), right.strip()))
        return pairs

    def clean_plan_account_codes(self) -> dict:
        plans: dict[str, str] = {}
        for number, plan, code in self._pairs(self.cleaned_data["plan_account_codes"], "plan_account_codes"):
            if plan in plans:
                raise forms.ValidationError(f"Line {number}: plan {plan} is listed twice.")
            plans[plan] = code
        return plans

    def clean_tax_types(self) -> list[dict]:
        rules = []
        for number, left, tax_type in self._pairs(self.cleaned_data["tax_types"], "tax_types"):
            status, *rest = left.split()
            if status not in TAX_STATUSES:
                raise forms.ValidationError(f"Line {number}: '{status}' is not one of {', '.join(TAX_STATUSES)}.")
            rule = {"tax_status": status, "country": "", "rate": "", "tax_type": tax_type}
            for part in rest:
                if _RATE.match(part) and not rule["rate"]:
                    rule["rate"] = part
                elif re.fullmatch(r"[A-Za-z]{2}|\*", part) and not rule["country"]:
                    rule["country"] = part
                else:
                    raise forms.ValidationError(f"Line {number}: '{part}' is neither a country code nor a rate.")
            rules.append(rule)
        return rules


def _plans_seen() -> list[str]:
    """Plan codes the outbox has shown (plan events are few: the type index finds them)."""
    codes = Event.objects.filter(type="plan.created").values_list("payload__plan__code", flat=True)
    return sorted({code for code in codes if code})[:200]


def xero_mapping_view(request, *, site):
    if not request.user.has_perm(XERO_MAPPING_PERMISSION):
        raise PermissionDenied  # the admin site refuses first; checked again here, as every screen does
    connectors = list(Connector.objects.filter(kind=Connector.Kind.XERO).order_by("name", "id"))
    wanted = request.GET.get("connector") or (connectors[0].pk if len(connectors) == 1 else "")
    connector = next((c for c in connectors if c.pk == wanted), None)
    form = None
    if connector is not None:
        if request.method == "POST":
            form = XeroMappingForm(request.POST)
            if form.is_valid():
                try:
                    xero_settings_update(
                        connector=connector, values={name: form.cleaned_data[name] for name in _FIELDS}
                    )
                except DomainError as error:
                    form.add_error(error.param if error.param in form.fields else None, error.message)
                else:
                    messages.success(request, f"The Xero mapping of {connector.name} is saved.")
                    return HttpResponseRedirect(f"{request.path}?connector={connector.pk}")
        else:
            form = XeroMappingForm(initial=XeroMappingForm.initial_of(connector.settings or {}))
    context = {
        **site.each_context(request),
        "title": "Xero mapping",
        "connectors": connectors,
        "connector": connector,
        "connector_url": reverse("admin:integrations_connector_change", args=[connector.pk]) if connector else "",
        "form": form,
        "plans_seen": _plans_seen() if connector else [],
    }
    return TemplateResponse(request, "admin/integrations/xero_mapping.html", context)


admin_screen_register(
    AdminScreen(
        app_label="integrations",
        slug="xero-mapping",
        name="Xero mapping",
        permission=XERO_MAPPING_PERMISSION,
        view=xero_mapping_view,
    )
)
