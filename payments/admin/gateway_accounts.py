"""Gateway accounts: credentials write-only, routing and failover explained above the list, each
account's health, the sandbox's outage drill."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR
from django.utils.html import format_html_join

from integrations.kernel.admin import ServiceRefusalsMixin
from integrations.kernel.errors import DomainError, InvalidRequest
from payments.currency import normalize_country, normalize_currency
from payments.gateways.registry import GATEWAYS, provider_choices
from payments.models import (
    GatewayAccount,
)
from payments.services import (
    gateway_account_create,
    gateway_account_update,
    gateway_health,
    gateway_health_reset,
    gateway_outage_drill,
)

_CREDENTIAL_PREFIX = "credential_"


# Defence in depth: a credential with one of these in its name is never shown, whatever its gateway says.
_SECRET_WORDS = ("secret", "password", "private", "token")


_ROUTING_RULE = (
    "Routing: a customer's payment goes to the first active account in this list (lowest priority "
    "number first) that serves both the customer's country and currency. Empty countries serve all "
    "countries; empty currencies serve all enabled currencies. A saved card stays on the account "
    "that tokenized it. Failover: an account that leaves a call unanswered (a timeout, a 5xx; never "
    "a decline) takes no new cards or first payments for a while; they go to the next account that "
    "serves the customer (its backup, e.g. of the same region). Renewals stay on the card's account."
)


def _credential_names(provider: str) -> tuple[str, ...]:
    gateway = GATEWAYS.get(provider)
    if gateway is None:
        return ()
    names = gateway.credential_names() or (*gateway.default_credentials(), *gateway.secret_credential_names())
    return tuple(dict.fromkeys(names))


def _credential_is_public(provider: str, name: str) -> bool:
    gateway = GATEWAYS.get(provider)
    if gateway is None or name in gateway.secret_credential_names():
        return False
    return not any(word in name.lower() for word in _SECRET_WORDS)


def _parse_codes(raw: str, normalize) -> list[str]:
    codes, errors = [], []
    for value in (raw or "").replace(",", " ").split():
        try:
            code = normalize(value)
        except InvalidRequest as error:
            errors.append(error.message)
            continue
        if code not in codes:
            codes.append(code)
    if errors:
        raise forms.ValidationError(errors)
    return codes


class GatewayAccountForm(forms.ModelForm):
    """Countries and currencies as comma-separated codes; credentials as write-only fields that
    `_gateway_account_form` adds per provider."""

    countries = forms.CharField(
        required=False, help_text="Comma-separated ISO country codes, e.g. DE, AT, CH. Empty serves all countries."
    )
    currencies = forms.CharField(
        required=False,
        help_text="Comma-separated ISO currency codes, e.g. EUR, CHF. Empty serves all enabled currencies.",
    )

    # Filled in by _gateway_account_form: form field -> credential name, and who uses each name.
    credential_fields: dict[str, str] = {}
    adding = True

    class Meta:
        model = GatewayAccount
        fields = ["provider", "display_name", "region", "countries", "currencies", "priority", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.adding:
            self.initial["countries"] = ", ".join(self.instance.countries or [])
            self.initial["currencies"] = ", ".join(self.instance.currencies or [])

    def clean_countries(self):
        return _parse_codes(self.cleaned_data.get("countries"), normalize_country)

    def clean_currencies(self):
        return _parse_codes(self.cleaned_data.get("currencies"), normalize_currency)

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider") if self.adding else self.instance.provider
        usable = set(_credential_names(provider)) | set(self.instance.credentials or {}) if provider else set()
        self.credentials = {}
        for field, name in self.credential_fields.items():
            value = cleaned.get(field)
            if not value:
                continue  # blank keeps the stored value (or, for a new account, the gateway's default)
            if provider and name not in usable:
                self.add_error(field, f"The {provider} gateway does not use {name}; leave it blank.")
            else:
                self.credentials[name] = value
        return cleaned


def _gateway_account_form(obj: GatewayAccount | None) -> type[GatewayAccountForm]:
    attrs: dict = {"adding": obj is None}
    if obj is None:
        attrs["provider"] = forms.ChoiceField(choices=provider_choices())
        users: dict[str, list[str]] = {}
        for provider, _ in provider_choices():
            for name in _credential_names(provider):
                users.setdefault(name, []).append(provider)
        help_texts = {
            name: f"Used by: {', '.join(providers)}. Blank uses the gateway's default, if it has one."
            for name, providers in users.items()
        }
    else:
        stored = obj.credentials or {}
        help_texts = {
            name: "A value is stored: leave blank to keep it." if stored.get(name) else "Not set."
            for name in dict.fromkeys([*_credential_names(obj.provider), *stored])
        }
    credential_fields = {}
    for name, help_text in help_texts.items():
        field = _CREDENTIAL_PREFIX + name
        credential_fields[field] = name
        attrs[field] = forms.CharField(
            label=name,
            required=False,
            help_text=help_text,
            # render_value=False: the stored (or just typed) value never goes back into the page.
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        )
    attrs["credential_fields"] = credential_fields
    return type("GatewayAccountForm", (GatewayAccountForm,), attrs)


@admin.register(GatewayAccount)
class GatewayAccountAdmin(ServiceRefusalsMixin, admin.ModelAdmin):
    form = GatewayAccountForm
    list_display = [
        "display_name",
        "provider",
        "region",
        "countries_served",
        "currencies_served",
        "priority",
        "active",
        "health",
    ]
    list_filter = ["provider", "active", "region"]
    actions = ["outage_drill_start", "outage_drill_end", "health_reset"]
    search_fields = ["=id", "display_name"]
    ordering = ["priority", "created_at"]
    sortable_by = []  # the list always reads in routing order

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = _gateway_account_form(obj)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["id", "provider", "stored_credentials", "health", "outage_drill", "created_at", "updated_at"]

    def get_fieldsets(self, request, obj=None):
        credential_fields = list(_gateway_account_form(obj).credential_fields)
        head = ["provider", "display_name", "region", "priority", "active"]
        if obj is not None:
            head = ["id", *head, "health", "outage_drill"]
            credential_fields = ["stored_credentials", *credential_fields]
        fieldsets = [
            (None, {"fields": head}),
            ("Who it serves", {"fields": ["countries", "currencies"], "description": _ROUTING_RULE}),
            (
                "Credentials",
                {
                    "fields": credential_fields,
                    "description": "Write-only: stored encrypted and never shown again. "
                    "A blank field keeps the stored value.",
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("History", {"fields": ["created_at", "updated_at"]}))
        return fieldsets

    @admin.display(description="countries")
    def countries_served(self, account):
        return ", ".join(account.countries) or "all"

    @admin.display(description="currencies")
    def currencies_served(self, account):
        return ", ".join(account.currencies) or "all enabled"

    @admin.display(description="health")
    def health(self, account):
        return gateway_health(account)

    @admin.action(description="Start an outage drill (sandbox): it answers nothing", permissions=["change"])
    def outage_drill_start(self, request, queryset):
        self._drill(request, queryset, on=True)

    @admin.action(description="End the outage drill", permissions=["change"])
    def outage_drill_end(self, request, queryset):
        self._drill(request, queryset, on=False)

    def _drill(self, request, queryset, *, on: bool):
        for account in queryset:
            try:
                gateway_outage_drill(account=account, on=on)
            except DomainError as error:
                self.message_user(request, f"{account}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{account}: outage drill {'on' if on else 'off'}.")

    @admin.action(description="Mark as answering (new cards go to it again now)", permissions=["change"])
    def health_reset(self, request, queryset):
        for account in queryset:
            gateway_health_reset(account=account)
        self.message_user(request, f"{queryset.count()} account(s) marked as answering.")

    @admin.display(description="stored credentials")
    def stored_credentials(self, account):
        stored = account.credentials or {}
        names = dict.fromkeys([*_credential_names(account.provider), *stored])
        rows = []
        for name in names:
            if not stored.get(name):
                shown = "not set"
            elif _credential_is_public(account.provider, name):
                shown = stored[name]
            else:
                shown = "stored (hidden)"
            rows.append((name, shown))
        return format_html_join("", "<div><code>{}</code>: {}</div>", rows) or "none"

    def changelist_view(self, request, extra_context=None):
        if ORDER_VAR in request.GET:  # the list always reads in routing order, whatever a link asks
            request.GET = request.GET.copy()
            del request.GET[ORDER_VAR]
        return super().changelist_view(request, {"routing_rule": _ROUTING_RULE, **(extra_context or {})})

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            editable = ("display_name", "region", "countries", "currencies", "priority", "active")
            changes = {field: data[field] for field in editable if field in form.changed_data}
            saved = gateway_account_update(account=obj, credentials=form.credentials, **changes)
        else:
            saved = gateway_account_create(
                provider=data["provider"],
                display_name=data["display_name"],
                credentials=form.credentials,
                countries=data["countries"],
                currencies=data["currencies"],
                priority=data["priority"],
                active=data["active"],
                region=data.get("region", ""),
            )
        obj.pk, obj.display_name = saved.pk, saved.display_name

    def has_delete_permission(self, request, obj=None):
        return False  # cards and payments point at the account: deactivate it instead
