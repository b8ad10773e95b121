"""The subscription screen: every action asks first and calls one `plans.services` call per row
(the customer page runs the same actions on a customer's subscriptions)."""

from django import forms
from django.contrib import admin
from django.db.models import Exists, OuterRef, Q

from integrations.kernel.admin import ConfirmedActionsMixin, ReadOnlyAdmin, ReadOnlyInline
from payments.models import GatewayAccount, Payment, PaymentMethod
from plans.models import Subscription, SubscriptionInvoice
from plans.selectors import subscription_card
from plans.services import (
    subscription_cancel,
    subscription_extend,
    subscription_move_to_current_price,
    subscription_pause,
    subscription_resume,
    subscription_retry_now,
)


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
