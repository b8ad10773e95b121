"""The Django admin's payment screens. Everything that writes goes through `payments.services`;
secrets are write-only and cards show as brand and last four only."""

from decimal import Decimal, InvalidOperation
from functools import cache

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from djmoney.money import Money  # django-money's Money formats like the MoneyFields beside it

from integrations.kernel.errors import DomainError, InvalidRequest
from payments.currency import format_amount, normalize_country, normalize_currency, parse_amount
from payments.gateways.registry import GATEWAYS, provider_choices
from payments.models import (
    Customer,
    GatewayAccount,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    Payout,
    Refund,
)
from payments.services import (
    customer_create,
    customer_update,
    gateway_account_create,
    gateway_account_update,
    payment_refund,
)

# --- Read-only building blocks ------------------------------------------------------------------


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


@admin.display(description="refunded")
def _payment_refunded(payment: Payment) -> Money:
    return Money(payment.amount_refunded, payment.amount.currency)


@admin.display(description="expiry")
def _card_expiry(method: PaymentMethod) -> str:
    return f"{method.exp_month:02d}/{method.exp_year}"


# --- Customers ----------------------------------------------------------------------------------


class CustomerPaymentMethodInline(ReadOnlyInline):
    model = PaymentMethod
    fields = ["brand", "last4", "expiry", "gateway_account", "is_default", "created_at", "detached_at"]
    verbose_name_plural = "cards"
    expiry = staticmethod(_card_expiry)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("gateway_account")


class CustomerInvoiceInline(ReadOnlyInline):
    model = Invoice
    fields = ["number", "status", "total", "created_at", "paid_at"]


class CustomerPaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["amount", "refunded", "status", "payment_method", "decline_code", "created_at"]
    refunded = staticmethod(_payment_refunded)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment_method")


# What a higher app sells a customer, shown through the reverse relation (payments never imports plans).
_SOLD_RELATIONS = {"subscriptions": "subscriptions", "accesses": "accesses (one-off passes)"}
_SOLD_FIELDS = (
    "plan",
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "trial_end",
    "access_from",
    "access_until",
    "invoice",
    "created_at",
)


@cache
def _sold_inlines() -> tuple[type[ReadOnlyInline], ...]:
    inlines = []
    for related_name, title in _SOLD_RELATIONS.items():
        try:
            relation = Customer._meta.get_field(related_name)
        except FieldDoesNotExist:
            continue
        model = relation.related_model
        names = {field.name for field in model._meta.concrete_fields}
        fields = [name for name in _SOLD_FIELDS if name in names]
        if not fields:
            continue
        attrs = {"model": model, "fk_name": relation.field.name, "fields": fields, "verbose_name_plural": title}
        inlines.append(type(f"Customer{model.__name__}Inline", (ReadOnlyInline,), attrs))
    return tuple(inlines)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "email", "name", "country", "currency", "created_at"]
    list_filter = ["country", "currency", "created_at"]
    search_fields = ["=id", "external_id", "email", "name"]
    readonly_fields = ["id", "currency", "currency_fixed_at", "created_at", "updated_at"]
    fields = [
        "id",
        "external_id",
        "email",
        "name",
        "country",
        "currency",
        "currency_fixed_at",
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False

    def get_inlines(self, request, obj):
        if obj is None:
            return []
        return [*_sold_inlines(), CustomerInvoiceInline, CustomerPaymentInline, CustomerPaymentMethodInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.base_fields["country"].help_text = "ISO 3166-1 alpha-2, e.g. DE, JP, KW."
        form.clean_country = _clean_country
        return form

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in ("external_id", "email", "name", "country")}
        if change:
            saved = customer_update(customer=obj, **{f: v for f, v in data.items() if f in form.changed_data})
        else:
            saved = customer_create(**data)
        obj.pk, obj.currency = saved.pk, saved.currency


def _clean_country(form):
    try:
        return normalize_country(form.cleaned_data.get("country"))
    except InvalidRequest as error:
        raise forms.ValidationError(error.message) from None


# --- Gateway accounts ---------------------------------------------------------------------------

_CREDENTIAL_PREFIX = "credential_"
# Defence in depth: a credential with one of these in its name is never shown, whatever its gateway says.
_SECRET_WORDS = ("secret", "password", "private", "token")
_ROUTING_RULE = (
    "Routing: a customer's payment goes to the first active account in this list (lowest priority "
    "number first) that serves both the customer's country and currency. Empty countries serve all "
    "countries; empty currencies serve all enabled currencies. A saved card stays on the account "
    "that tokenized it."
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
        fields = ["provider", "display_name", "countries", "currencies", "priority", "active"]

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
class GatewayAccountAdmin(admin.ModelAdmin):
    form = GatewayAccountForm
    list_display = ["display_name", "provider", "countries_served", "currencies_served", "priority", "active"]
    list_filter = ["provider", "active"]
    search_fields = ["=id", "display_name"]
    ordering = ["priority", "created_at"]
    sortable_by = []  # the list always reads in routing order

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = _gateway_account_form(obj)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["id", "provider", "stored_credentials", "created_at", "updated_at"]

    def get_fieldsets(self, request, obj=None):
        credential_fields = list(_gateway_account_form(obj).credential_fields)
        head = ["provider", "display_name", "priority", "active"]
        if obj is not None:
            head = ["id", *head]
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
        return super().changelist_view(request, {"routing_rule": _ROUTING_RULE, **(extra_context or {})})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:  # a service refused the save; its transaction rolled back
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            editable = ("display_name", "countries", "currencies", "priority", "active")
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
            )
        obj.pk, obj.display_name = saved.pk, saved.display_name

    def has_delete_permission(self, request, obj=None):
        return False  # cards and payments point at the account: deactivate it instead


# --- Cards --------------------------------------------------------------------------------------


class AttachedFilter(admin.SimpleListFilter):
    title = "attached"
    parameter_name = "attached"

    def lookups(self, request, model_admin):
        return [("yes", "attached"), ("no", "detached")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(detached_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(detached_at__isnull=False)
        return queryset


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    # Brand and last four only: the fingerprint and the gateway's card reference stay off screen.
    list_display = ["__str__", "brand", "last4", "expiry", "customer", "gateway_account", "is_default", "attached"]
    list_filter = ["brand", "gateway_account", AttachedFilter, "is_default"]
    search_fields = ["=id", "=last4", "customer__external_id", "customer__email"]
    list_select_related = ["customer", "gateway_account"]
    fields = [
        "id",
        "customer",
        "gateway_account",
        "brand",
        "last4",
        "expiry",
        "is_default",
        "created_at",
        "detached_at",
    ]
    readonly_fields = fields
    expiry = staticmethod(_card_expiry)

    @admin.display(description="attached", boolean=True)
    def attached(self, method):
        return method.detached_at is None


# --- Invoices -----------------------------------------------------------------------------------


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = [
        "position",
        "description",
        "quantity",
        "unit_amount",
        "discount_amount",
        "tax_amount",
        "total",
        "reference",
    ]
    show_change_link = False


class InvoicePaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["amount", "refunded", "status", "payment_method", "created_at"]
    refunded = staticmethod(_payment_refunded)
    verbose_name_plural = "payments"


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number_or_id", "customer", "status", "total", "created_at", "paid_at"]
    list_filter = ["status", "currency"]
    search_fields = ["number", "=id", "customer__external_id", "customer__email"]
    list_select_related = ["customer"]
    inlines = [InvoiceLineInline, InvoicePaymentInline]
    fields = [
        "id",
        "number",
        "customer",
        "status",
        "currency",
        "subtotal",
        "discount_total",
        "tax_total",
        "total",
        "source",
        "description",
        "created_at",
        "finalized_at",
        "paid_at",
        "voided_at",
    ]
    readonly_fields = fields

    @admin.display(description="number", ordering="number")
    def number_or_id(self, invoice):
        return invoice.number or f"(draft) {invoice.pk}"


# --- Payments and refunds -----------------------------------------------------------------------


class PaymentRefundInline(ReadOnlyInline):
    model = Refund
    fields = ["amount", "status", "reason", "failure_message", "created_at"]


class PaymentAttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = ["number", "idempotency_key", "outcome", "decline_code", "created_at", "completed_at"]
    show_change_link = False
    verbose_name_plural = "attempts"


class PartialRefundForm(forms.Form):
    amount = forms.CharField(max_length=32)
    reason = forms.CharField(max_length=255, required=False)
    # What had been refunded when the operator reviewed the refund: a second submit of the same
    # confirmation (double click, back button) sees it moved and asks again instead of refunding twice.
    refunded_before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, payment: Payment, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = payment.amount.currency.code
        self.fields["amount"].label = f"Amount ({self.currency})"
        left = format_amount(payment.amount.amount - payment.amount_refunded, self.currency)
        self.fields["amount"].help_text = f"{left} {self.currency} is left to refund."

    def clean_amount(self):
        try:
            return parse_amount(self.cleaned_data["amount"], self.currency, allow_zero=False)
        except InvalidRequest as error:
            raise forms.ValidationError(error.message) from None

    def money(self) -> Money:
        return Money(self.cleaned_data["amount"], self.currency)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "customer", "amount", "refunded", "status", "gateway_account", "payment_method", "created_at"]
    list_filter = ["status", "gateway_account", "amount_currency", "customer__country"]
    search_fields = ["=id", "customer__external_id", "customer__email", "=gateway_reference"]
    list_select_related = ["customer", "gateway_account", "payment_method"]
    actions = ["refund_in_full"]
    inlines = [PaymentRefundInline, PaymentAttemptInline]
    fields = [
        "id",
        "customer",
        "invoice",
        "status",
        "amount",
        "refunded",
        "left_to_refund",
        "gateway_account",
        "payment_method",
        "gateway_reference",
        "off_session",
        "attempts",
        "decline_code",
        "failure_message",
        "fee",
        "net",
        "payout",
        "captured_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_refund_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    refunded = staticmethod(_payment_refunded)

    @admin.display(description="left to refund")
    def left_to_refund(self, payment):
        return Money(payment.amount.amount - payment.amount_refunded, payment.amount.currency)

    def _url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def get_urls(self):
        view = self.admin_site.admin_view(self.refund_view)
        return [path("<path:object_id>/refund/", view, name=self._url_name("refund")), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        payment = self.get_object(request, unquote(object_id))
        refundable = (Payment.Status.SUCCEEDED, Payment.Status.PARTIALLY_REFUNDED)
        if payment is not None and payment.status in refundable and self.has_refund_permission(request):
            extra_context["refund_url"] = reverse(f"admin:{self._url_name('refund')}", args=[payment.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def refund_view(self, request, object_id):
        """Refund part of one payment: a form (amount, reason), then a confirmation, then the service."""
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        confirming = False
        if request.method == "POST":
            form = PartialRefundForm(request.POST, payment=payment)
            if form.is_valid() and request.POST.get("confirm") == "yes":
                if _decimal_or_none(form.cleaned_data["refunded_before"]) != payment.amount_refunded:
                    form.add_error(None, "This payment changed since you reviewed the refund. Check and confirm again.")
                else:
                    try:
                        refund = payment_refund(
                            payment=payment, amount=form.money(), reason=form.cleaned_data["reason"]
                        )
                    except DomainError as error:
                        form.add_error("amount" if error.param == "amount" else None, error.message)
                    else:
                        self._report_refund(request, payment, refund)
                        return HttpResponseRedirect(reverse(f"admin:{self._url_name('change')}", args=[payment.pk]))
            elif form.is_valid():
                confirming = True
                form = PartialRefundForm(
                    {**form.data.dict(), "refunded_before": str(payment.amount_refunded)}, payment=payment
                )
                form.is_valid()
        else:
            form = PartialRefundForm(payment=payment)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund payment {payment.pk}",
            "opts": self.opts,
            "original": payment,
            "form": form,
            "confirming": confirming,
            "refund": form.money() if confirming else None,
        }
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)

    def _report_refund(self, request, payment, refund) -> None:
        """Tell the operator what the gateway said about one refund."""
        if refund.status == Refund.Status.SUCCEEDED:
            self.log_change(request, payment, f"Refunded {refund.amount} ({refund.pk}).")
            self.message_user(request, f"Refunded {refund.amount} of {payment.pk} ({refund.pk}).", messages.SUCCESS)
        elif refund.status == Refund.Status.FAILED:
            self.message_user(
                request, f"The gateway refused to refund {payment.pk}: {refund.failure_message}", messages.ERROR
            )
        else:
            self.log_change(request, payment, f"Refund of {refund.amount} requested ({refund.pk}); pending.")
            self.message_user(
                request,
                f"The refund of {refund.amount} for {payment.pk} is pending at the gateway; it will be reconciled.",
                messages.WARNING,
            )

    @admin.action(description="Refund selected payments in full", permissions=["refund"])
    def refund_in_full(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/confirm_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Refund payments in full?",
                    "question": "What is left of each payment will go back to the customer's card. "
                    "This cannot be undone.",
                    "objects": queryset,
                    "action": "refund_in_full",
                    "opts": self.opts,
                },
            )
        outcomes: dict[str, list[str]] = {"succeeded": [], "pending": [], "refused": []}
        for payment in queryset:
            try:
                refund = payment_refund(payment=payment, reason="Refunded in full from the admin.")
            except DomainError as error:  # this payment is refused; the others still go ahead
                outcomes["refused"].append(f"{payment.pk}: {error.message}")
                continue
            if refund.status == Refund.Status.FAILED:
                outcomes["refused"].append(f"{payment.pk}: {refund.failure_message}")
                continue
            self.log_change(request, payment, f"Refund of {refund.amount} ({refund.pk}): {refund.status}.")
            key = "succeeded" if refund.status == Refund.Status.SUCCEEDED else "pending"
            outcomes[key].append(f"{payment.pk} ({refund.amount})")
        if outcomes["succeeded"]:
            self.message_user(request, f"Refunded in full: {', '.join(outcomes['succeeded'])}.", messages.SUCCESS)
        if outcomes["pending"]:
            self.message_user(
                request,
                f"Pending at the gateway, to be reconciled: {', '.join(outcomes['pending'])}.",
                messages.WARNING,
            )
        if outcomes["refused"]:
            self.message_user(request, f"Not refunded: {'; '.join(outcomes['refused'])}", messages.ERROR)
        return None


def _decimal_or_none(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return None


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["id", "payment", "amount", "status", "reason", "failure_message", "payout", "created_at"]
    list_filter = ["status", "amount_currency"]
    search_fields = ["=id", "=payment__id", "payment__customer__external_id", "=gateway_reference"]
    list_select_related = ["payment", "payout"]
    fields = [
        "id",
        "payment",
        "amount",
        "status",
        "reason",
        "gateway_reference",
        "failure_message",
        "payout",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields


# --- Payouts ------------------------------------------------------------------------------------


class PayoutPaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["amount", "fee", "net", "status", "captured_at"]
    verbose_name_plural = "payments settled in this payout"


class PayoutRefundInline(ReadOnlyInline):
    model = Refund
    fields = ["payment", "amount", "status", "updated_at"]
    verbose_name_plural = "refunds deducted from this payout"


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ["id", "gateway_account", "currency", "amount", "fee_total", "status", "arrival_date", "payments"]
    list_filter = ["gateway_account", "amount_currency", "status"]
    search_fields = ["=id", "=gateway_reference"]
    list_select_related = ["gateway_account"]
    inlines = [PayoutPaymentInline, PayoutRefundInline]
    fields = [
        "id",
        "gateway_account",
        "gateway_reference",
        "amount",
        "fee_total",
        "status",
        "arrival_date",
        "payments",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(payment_count=Count("payments", distinct=True))

    @admin.display(description="currency", ordering="amount_currency")
    def currency(self, payout):
        return payout.amount.currency.code

    @admin.display(description="payments", ordering="payment_count")
    def payments(self, payout):
        return payout.payment_count
