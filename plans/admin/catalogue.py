"""The catalogue screen: plans with their current and retired prices; every write goes through
`plans.services`."""

from django import forms
from django.contrib import admin
from django.db.models import Prefetch

from integrations.kernel.admin import ConfirmedActionsMixin, ServiceRefusalsMixin
from integrations.kernel.errors import DomainError
from plans.models import Plan, PlanPrice
from plans.selectors import plan_current_prices, plan_is_referenced
from plans.services import (
    Trial,
    plan_archive,
    plan_create,
    plan_delete,
    plan_prices_parse,
    plan_terms_validate,
    plan_update,
)
from plans.services.catalogue import STRUCTURAL_FIELDS

_TERM_FIELDS = [
    "code", "name", "description", "kind", "interval", "interval_count", "billing_cycles", "access_days",
    "tax_behavior", "tax_category",
]  # fmt: skip


def _terms_from(cleaned: dict) -> dict:
    terms = {field: cleaned.get(field) for field in _TERM_FIELDS}
    terms["interval"] = terms["interval"] or None
    terms["description"] = terms["description"] or ""
    if cleaned.get("trial_length") or cleaned.get("trial_unit"):
        terms["trial"] = Trial(
            cleaned.get("trial_length"), cleaned.get("trial_unit"), cleaned.get("trial_requires_payment_method")
        )
    else:
        terms["trial"] = None
    return terms


class PlanAdminForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = [*_TERM_FIELDS, "trial_length", "trial_unit", "trial_requires_payment_method"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                plan_terms_validate(_terms_from(cleaned))
            except DomainError as error:
                field = (error.param or "").replace("trial.", "trial_")
                self.add_error(field if field in self.fields else None, error.message)
        return cleaned


class PriceInlineFormSet(forms.BaseInlineFormSet):
    """The plan's current prices. Editing an amount adds a new price row (the old one is kept for
    the subscribers on it); removing a row retires that currency's price."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        try:
            self.prices = plan_prices_parse(
                [
                    form.cleaned_data["amount"]
                    for form in self.forms
                    if form.cleaned_data and not form.cleaned_data.get("DELETE")
                ]
            )
        except DomainError as error:
            raise forms.ValidationError(error.message) from None


class CurrentPriceInline(admin.TabularInline):
    model = PlanPrice
    formset = PriceInlineFormSet
    fields = ["amount", "created_at"]
    readonly_fields = ["created_at"]
    extra = 1
    verbose_name = "current price"
    verbose_name_plural = "current prices (one per currency; a change keeps the old price for its subscribers)"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_current=True)


class RetiredPriceInline(admin.TabularInline):
    model = PlanPrice
    fields = ["amount", "created_at", "retired_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "retired prices"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_current=False)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(ServiceRefusalsMixin, ConfirmedActionsMixin, admin.ModelAdmin):
    form = PlanAdminForm
    inlines = [CurrentPriceInline, RetiredPriceInline]
    list_display = ["name", "code", "kind", "billing", "trial", "prices", "status"]
    list_filter = ["status", "kind", "interval"]
    search_fields = ["=id", "code", "name"]
    actions = ["archive_selected"]
    readonly_fields = ["id", "status", "archived_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "code", "name", "description", "status", "archived_at"]}),
        ("Billing", {"fields": list(STRUCTURAL_FIELDS)}),  # the terms that change only while nobody uses the plan
        ("Trial", {"fields": ["trial_length", "trial_unit", "trial_requires_payment_method"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("prices", queryset=PlanPrice.objects.filter(is_current=True)))
        )

    @admin.display(description="billing")
    def billing(self, plan):
        if plan.kind == Plan.Kind.ONE_OFF:
            return f"one-off, {plan.access_days} day(s) of access"
        every = plan.interval if plan.interval_count == 1 else f"{plan.interval_count} {plan.interval}s"
        cycles = f", {plan.billing_cycles} cycles" if plan.billing_cycles else ""
        return f"every {every}{cycles}"

    @admin.display(description="trial")
    def trial(self, plan):
        if not plan.has_trial:
            return "—"
        card = "card required" if plan.trial_requires_payment_method else "no card"
        return f"{plan.trial_length} {plan.trial_unit}(s), {card}"

    @admin.display(description="prices")
    def prices(self, plan):
        return ", ".join(str(price.amount) for price in plan_current_prices(plan=plan))

    def construct_change_message(self, request, form, formsets, add=False):
        # The formsets are never saved (the services write the prices), so they have no saved objects to log.
        return super().construct_change_message(request, form, None, add)

    def save_model(self, request, obj, form, change):
        pass  # saved with its prices in save_related, through the services

    def save_formset(self, request, form, formset, change):
        pass  # prices are written by plan_create / plan_update

    def save_related(self, request, form, formsets, change):
        price_formset = next(fs for fs in formsets if isinstance(fs, PriceInlineFormSet))
        terms = _terms_from(form.cleaned_data)
        if change:
            plan = plan_update(plan=form.instance, **terms, prices=price_formset.prices)
        else:
            plan = plan_create(**terms, prices=price_formset.prices)
        form.instance.pk = plan.pk

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)  # the role first, then the rule
        return allowed and (obj is None or not plan_is_referenced(plan=obj))

    def delete_model(self, request, obj):
        plan_delete(plan=obj)

    def delete_queryset(self, request, queryset):
        for plan in queryset:
            plan_delete(plan=plan)

    @admin.action(description="Archive selected plans (take them off sale)", permissions=["change"])
    def archive_selected(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="archive_selected",
                title="Archive plans?",
                question="These plans will be taken off sale. Their subscribers keep them.",
            )

        def archive(plan):
            plan_archive(plan=plan)
            return True, "archived"

        self._each(request, queryset, done="Archived", call=archive)
        return None
