"""The Django admin's catalogue and subscription screens. Every write goes through the services:
plans through `plans.services`, subscriptions through one `plans.services` call per row."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from integrations.kernel.admin import ConfirmedActionsMixin
from integrations.kernel.errors import DomainError
from payments.admin import ReadOnlyAdmin, ReadOnlyInline
from payments.models import GatewayAccount, Payment, PaymentMethod
from plans.models import Plan, PlanPrice, Subscription, SubscriptionInvoice
from plans.selectors import plan_current_prices, plan_is_referenced, subscription_card
from plans.services import (
    Trial,
    plan_archive,
    plan_create,
    plan_delete,
    plan_prices_parse,
    plan_terms_validate,
    plan_update,
    subscription_cancel,
    subscription_extend,
    subscription_move_to_current_price,
    subscription_pause,
    subscription_resume,
    subscription_retry_now,
)

_TERM_FIELDS = ["code", "name", "description", "kind", "interval", "interval_count", "billing_cycles", "access_days"]


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
class PlanAdmin(admin.ModelAdmin):
    form = PlanAdminForm
    inlines = [CurrentPriceInline, RetiredPriceInline]
    list_display = ["name", "code", "kind", "billing", "trial", "prices", "status"]
    list_filter = ["status", "kind", "interval"]
    search_fields = ["=id", "code", "name"]
    actions = ["archive_selected"]
    readonly_fields = ["id", "status", "archived_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "code", "name", "description", "status", "archived_at"]}),
        ("Billing", {"fields": ["kind", "interval", "interval_count", "billing_cycles", "access_days"]}),
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

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:  # a service refused the save (e.g. plan_in_use); its transaction rolled back
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

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
        return obj is None or not plan_is_referenced(plan=obj)

    def delete_model(self, request, obj):
        plan_delete(plan=obj)

    def delete_queryset(self, request, queryset):
        for plan in queryset:
            plan_delete(plan=plan)

    @admin.action(description="Archive selected plans (take them off sale)", permissions=["change"])
    def archive_selected(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/confirm_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Archive plans?",
                    "question": "These plans will be taken off sale. Their subscribers keep them.",
                    "objects": queryset,
                    "action": "archive_selected",
                    "opts": self.model._meta,
                },
            )
        for plan in queryset:
            plan_archive(plan=plan)
        self.message_user(request, f"Archived {queryset.count()} plan(s).", messages.SUCCESS)
        return None


# --- Subscriptions ------------------------------------------------------------------------------


class GatewayFilter(admin.SimpleListFilter):
    """The gateway a subscription is charged through: its own card's or its customer's default card's."""

    title = "gateway"
    parameter_name = "gateway"

    def lookups(self, request, model_admin):
        return [(account.pk, str(account)) for account in GatewayAccount.objects.order_by("priority", "created_at")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        default_card_there = PaymentMethod.objects.filter(
            customer_id=OuterRef("customer_id"), is_default=True, detached_at__isnull=True, gateway_account=self.value()
        )
        return queryset.filter(Q(payment_method__gateway_account=self.value()) | Q(Exists(default_card_there)))


class SubscriptionInvoiceInline(ReadOnlyInline):
    model = SubscriptionInvoice
    fields = ["purpose", "period_start", "period_end", "invoice", "invoice_status", "invoice_total"]
    show_change_link = False  # the invoice itself links to its page
    verbose_name_plural = "invoices"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice").order_by("-period_start", "-invoice_id")

    @admin.display(description="status")
    def invoice_status(self, link):
        return link.invoice.get_status_display()

    @admin.display(description="total")
    def invoice_total(self, link):
        return link.invoice.total


class ExtendForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=3650, help_text="Free days added to the current period (or trial), 1 to 3650."
    )


def _state(sub: Subscription) -> str:
    if sub.cancel_at_period_end and sub.status in (Subscription.Status.ACTIVE, Subscription.Status.TRIALING):
        return f"{sub.status}, cancels at period end"
    return sub.status


@admin.register(Subscription)
class SubscriptionAdmin(ConfirmedActionsMixin, ReadOnlyAdmin):
    """Billing state is written by the services only: the page reads, the actions call one service per row."""

    list_display = [
        "id",
        "customer",
        "plan",
        "status",
        "price_amount",
        "current_period_end",
        "next_billing_at",
        "cycles_billed",
    ]
    list_filter = ["status", "plan", "currency", "customer__country", GatewayFilter]
    search_fields = ["=id", "customer__external_id", "customer__email"]
    list_select_related = ["customer", "plan", "price"]
    inlines = [SubscriptionInvoiceInline]
    actions = [
        "cancel_now",
        "cancel_at_end",
        "pause",
        "resume",
        "extend",
        "retry_now",
        "move_to_current_price_at_renewal",
    ]
    fieldsets = [
        (None, {"fields": ["id", "customer", "plan", "price", "currency", "status", "source"]}),
        (
            "Billing",
            {
                "fields": [
                    "current_period_start",
                    "current_period_end",
                    "next_billing_at",
                    "cycles_billed",
                    "card_charged",
                    "payment_method",
                ]
            },
        ),
        ("Trial", {"fields": ["trial_start", "trial_end"]}),
        ("Dunning", {"fields": ["past_due_since", "retries_done"]}),
        (
            "Changes",
            {
                "fields": [
                    "cancel_at_period_end",
                    "cancel_reason",
                    "canceled_at",
                    "ended_at",
                    "paused_at",
                    "pending_price",
                    "move_to_current_price",
                    "price_change_notified_at",
                ]
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [field for _, options in self.fieldsets for field in options["fields"]]

    @admin.display(description="price", ordering="price__amount")
    def price_amount(self, sub):
        return sub.price.amount

    @admin.display(description="card charged next")
    def card_charged(self, sub):
        return subscription_card(sub) or "none"

    def action_queryset(self, queryset):
        return queryset.select_related("plan", "price")

    # --- actions: a confirmation page first, then one service call per subscription

    @admin.action(description="Cancel now (access ends now)", permissions=["operate"])
    def cancel_now(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="cancel_now",
                title="Cancel subscriptions now?",
                question="These subscriptions end now and their access stops; an open renewal invoice is voided. "
                "Nothing is refunded.",
            )

        def cancel(sub):
            sub = subscription_cancel(subscription=sub, at_period_end=False, reason=Subscription.CancelReason.OPERATOR)
            return True, _state(sub)

        self._each(request, queryset, done="Canceled", call=cancel)
        return None

    @admin.action(description="Cancel at period end", permissions=["operate"])
    def cancel_at_end(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="cancel_at_end",
                title="Cancel subscriptions at period end?",
                question="Active and trialing subscriptions keep their access until their period ends and are not "
                "renewed. Past-due, paused and incomplete ones have no paid period left: they end now.",
            )

        def cancel(sub):
            sub = subscription_cancel(subscription=sub, at_period_end=True, reason=Subscription.CancelReason.OPERATOR)
            return True, _state(sub)

        self._each(request, queryset, done="Canceled", call=cancel)
        return None

    @admin.action(description="Pause", permissions=["operate"])
    def pause(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="pause",
                title="Pause subscriptions?",
                question="Access stops and nothing is charged until the subscription is resumed.",
            )
        self._each(
            request, queryset, done="Paused", call=lambda sub: (True, _state(subscription_pause(subscription=sub)))
        )
        return None

    @admin.action(description="Resume (paused, or set to cancel at period end)", permissions=["operate"])
    def resume(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="resume",
                title="Resume subscriptions?",
                question="A paused subscription starts a new period now and is charged for it now. A subscription "
                "set to cancel at period end will renew again.",
            )

        def resume(sub):
            return True, _state(subscription_resume(subscription=sub))

        self._each(request, queryset, done="Resumed", call=resume)
        return None

    @admin.action(description="Extend by N days (free)", permissions=["operate"])
    def extend(self, request, queryset):
        form = ExtendForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_valid():  # the first showing (unbound), or a bad number of days
            return self._confirm(
                request,
                queryset,
                action="extend",
                title="Extend subscriptions?",
                question="The current period (or trial) of each subscription lasts this many days longer, free.",
                form=form,
            )
        days = form.cleaned_data["days"]

        def extend(sub):
            sub = subscription_extend(subscription=sub, days=days)
            return True, f"{days} day(s), period ends {sub.current_period_end:%Y-%m-%d %H:%M}"

        self._each(request, queryset, done="Extended", call=extend)
        return None

    @admin.action(description="Retry the failed payment now", permissions=["operate"])
    def retry_now(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="retry_now",
                title="Retry payments now?",
                question="The open renewal invoice of each past-due subscription is charged again now to the card "
                "renewals go to. A decline counts as one of the dunning retries; after the last one the "
                "subscription is canceled.",
            )

        def retry(sub):
            payment = subscription_retry_now(subscription=sub)
            if payment is None:
                return False, "no failed payment to retry (one is under way or waits for the customer)"
            sub.refresh_from_db(fields=["status", "cancel_at_period_end"])
            declined = f" ({payment.decline_code})" if payment.decline_code else ""
            return (
                payment.status == Payment.Status.SUCCEEDED,
                f"payment {payment.pk} {payment.status}{declined}, {_state(sub)}",
            )

        self._each(request, queryset, done="Retried", call=retry)
        return None

    @admin.action(description="Move to the current price at next renewal", permissions=["operate"])
    def move_to_current_price_at_renewal(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="move_to_current_price_at_renewal",
                title="Move subscriptions to the current price?",
                question="From their next renewal on, these subscriptions are charged their plan's current price in "
                "their currency. Subscribers are emailed before that renewal.",
            )

        def move(sub):
            subscription_move_to_current_price(subscription=sub)
            return True, "from the next renewal"

        self._each(request, queryset, done="Moved to the current price", call=move)
        return None
