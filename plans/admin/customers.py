"""The customer page for support: the profile, and below it the customer's whole story in one place
(subscriptions with their support actions, passes, payments, invoices, refunds, discounts, cards
as brand and last four, events), read-only tables linking to each row's own page. It replaces
payments' Customer screen, which cannot know what plans sells; each table shows only to someone
who may view its rows, and the subscription actions are the subscription screen's own, with its
permissions and confirmations."""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from djmoney.money import Money  # django-money's Money formats like the MoneyFields beside it

from integrations.kernel.admin import ConfirmedActionsMixin
from payments.admin.customers import CustomerAdmin
from payments.models import Customer
from plans.admin.subscriptions import _state
from plans.models import Subscription
from plans.selectors import customer_page_rows
from plans.services import customer_erase

ROWS_SHOWN = 50  # per table: the newest; the rest through the table's own list


@dataclass(frozen=True)
class Section:
    key: str  # customer_page_rows' section
    title: str
    permission: str  # who may see the table: view permission on its rows
    columns: tuple[str, ...]
    cells: Callable  # (page, row) -> the row's cells
    more: Callable | None = None  # (customer) -> the changelist of all of them


def _card(method) -> str:
    return f"{method.brand} •••• {method.last4}" if method else "—"


def _filtered(url_name: str, query: str) -> Callable:
    return lambda customer: f"{reverse(url_name)}?{urlencode({query: customer.pk})}"


SECTIONS = (
    Section(
        "subscriptions",
        "Subscriptions",
        "plans.view_subscription",
        ("Subscription", "Plan", "Status", "Price", "Period ends", "Next billing", "Started"),
        lambda page, sub: [
            page.link("plans.subscription", sub, sub.pk),
            str(sub.plan),
            _state(sub),
            sub.price.amount,
            sub.current_period_end,
            sub.next_billing_at,
            sub.created_at,
        ],
        _filtered("admin:plans_subscription_changelist", "customer__exact"),
    ),
    Section(
        "passes",
        "Passes (one-off)",
        "plans.view_access",
        ("Plan", "Status", "From", "Until", "Invoice", "Bought"),
        lambda page, access: [
            str(access.plan),
            access.status,
            access.access_from,
            access.access_until,
            page.link("payments.invoice", access.invoice, str(access.invoice)) if access.invoice else None,
            access.created_at,
        ],
    ),
    Section(
        "payments",
        "Payments",
        "payments.view_payment",
        ("Payment", "Amount", "Refunded", "Status", "Card", "Declined", "Created"),
        lambda page, payment: [
            page.link("payments.payment", payment, payment.pk),
            payment.amount,
            Money(payment.amount_refunded, payment.amount.currency),
            payment.status,
            _card(payment.payment_method),
            payment.decline_code,
            payment.created_at,
        ],
        _filtered("admin:payments_payment_changelist", "customer__exact"),
    ),
    Section(
        "invoices",
        "Invoices",
        "payments.view_invoice",
        ("Invoice", "Status", "Total", "Created", "Paid"),
        lambda page, invoice: [
            page.link("payments.invoice", invoice, invoice.number or f"(draft) {invoice.pk}"),
            invoice.get_status_display(),
            invoice.total,
            invoice.created_at,
            invoice.paid_at,
        ],
        _filtered("admin:payments_invoice_changelist", "customer__exact"),
    ),
    Section(
        "refunds",
        "Refunds",
        "payments.view_refund",
        ("Refund", "Payment", "Amount", "Status", "Reason", "Created"),
        lambda page, refund: [
            page.link("payments.refund", refund, refund.pk),
            page.link("payments.payment", refund.payment, refund.payment_id),
            refund.amount,
            refund.status,
            refund.reason,
            refund.created_at,
        ],
    ),
    Section(
        "discounts",
        "Discounts (coupons)",
        "coupons.view_discount",
        ("Campaign", "Code", "On", "Invoices left", "Active", "Redeemed"),
        lambda page, discount: [
            page.link("coupons.coupon", discount.coupon, discount.coupon.name),
            discount.redemption.code.code,
            page.link("plans.subscription", discount.subscription_id, discount.subscription_id)
            if discount.subscription_id
            else "the whole account",
            "every one" if discount.cycles_remaining is None else discount.cycles_remaining,
            "yes" if discount.active else "no",
            discount.created_at,
        ],
    ),
    Section(
        "cards",
        "Cards",
        "payments.view_paymentmethod",
        ("Card", "Last four", "Default", "Attached", "Added"),
        lambda page, method: [
            page.link("payments.paymentmethod", method, method.brand),
            method.last4,
            "yes" if method.is_default else "no",
            "yes" if method.detached_at is None else f"detached {method.detached_at:%Y-%m-%d}",
            method.created_at,
        ],
        _filtered("admin:payments_paymentmethod_changelist", "customer__exact"),
    ),
    Section(
        "events",
        "Events",
        "integrations.view_event",
        ("Event", "Type", "Created"),
        lambda page, event: [page.link("integrations.event", event, event.pk), event.type, event.created_at],
        _filtered("admin:integrations_event_changelist", "q"),
    ),
)


class _Page:
    """What one staff member's page links to: a row's own page only where they may view it."""

    def __init__(self, request):
        self.request = request

    def link(self, label: str, obj, text):
        if obj is None:
            return None
        app_label, model = label.split(".")
        if not self.request.user.has_perm(f"{app_label}.view_{model}"):
            return text
        pk = obj if isinstance(obj, str) else obj.pk
        try:
            url = reverse(f"admin:{app_label}_{model}_change", args=[quote(pk)])
        except NoReverseMatch:  # not on the admin
            return text
        return format_html('<a href="{}">{}</a>', url, text)


admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerPageAdmin(ConfirmedActionsMixin, CustomerAdmin):
    change_form_template = "admin/plans/customer_page.html"
    actions = ["erase"]

    def has_erase_permission(self, request):
        return request.user.has_perm("payments.erase_customer")

    @admin.action(description="Erase personal data (data protection)", permissions=["erase"])
    def erase(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="erase",
                title="Erase these customers' personal data?",
                question="Email, name and external id are erased for good, live subscriptions end now (nothing is "
                "refunded) and the cards are removed at the gateway. Invoices, payments and refunds are kept. "
                "This cannot be undone.",
            )

        def erase_one(customer):
            customer_erase(customer=customer)
            customer.refresh_from_db()  # the admin's log names the erased customer, not their email
            return True, "erased"

        self._each(request, queryset, done="Erased", call=erase_one)
        return None

    def get_inlines(self, request, obj):
        return []  # the tables below the profile show it all (customer_page.html)

    def _url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def get_urls(self):
        view = self.admin_site.admin_view(self.subscription_action_view)
        name = self._url_name("subscription_action")
        return [path("<path:object_id>/subscriptions/action/", view, name=name), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        customer = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if customer is not None and self.has_view_or_change_permission(request, customer):
            extra_context.update(self._story(request, customer))
        return super().change_view(request, object_id, form_url, extra_context)

    def _story(self, request, customer: Customer) -> dict:
        visible = [section for section in SECTIONS if request.user.has_perm(section.permission)]
        found = customer_page_rows(customer=customer, sections=[s.key for s in visible], limit=ROWS_SHOWN)
        page = _Page(request)
        tables = []
        for section in visible:
            rows, more = found[section.key]
            tables.append(
                {
                    "key": section.key,
                    "title": section.title,
                    "columns": section.columns,
                    "rows": [(row.pk, section.cells(page, row)) for row in rows],
                    "more_url": section.more(customer) if more and section.more else None,
                    "more": more,
                }
            )
        actions = self._subscription_actions(request)
        return {
            "customer_tables": tables,
            "customer_rows_shown": ROWS_SHOWN,
            "subscription_actions": actions.items() if actions else (),
            "subscription_action_url": reverse(f"admin:{self._url_name('subscription_action')}", args=[customer.pk]),
        }

    def _subscription_actions(self, request) -> dict[str, str]:
        """The subscription screen's actions this staff member may run: name -> description."""
        subscriptions = self.admin_site._registry[Subscription]
        return {name: str(description) for name, (_, _, description) in subscriptions.get_actions(request).items()}

    def subscription_action_view(self, request, object_id):
        """Runs a subscription action on some of this customer's subscriptions: the subscription
        screen's own action (permission, confirmation posted back here, messages), then back here."""
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, customer):
            raise PermissionDenied
        page = reverse(f"admin:{self._url_name('change')}", args=[quote(customer.pk)])
        if request.method != "POST":
            return HttpResponseRedirect(page)
        subscriptions = self.admin_site._registry[Subscription]
        actions = subscriptions.get_actions(request)
        name = request.POST.get("action", "")
        if not name:
            self.message_user(request, "Choose an action for the ticked subscriptions.", messages.WARNING)
            return HttpResponseRedirect(page)
        if name not in actions:
            raise PermissionDenied
        selected = Subscription.objects.filter(customer=customer, pk__in=request.POST.getlist("_selected_action"))
        if not selected.exists():
            self.message_user(request, "Tick the subscriptions to act on first.", messages.WARNING)
            return HttpResponseRedirect(page)
        response = actions[name][0](subscriptions, request, selected)
        if response is None:
            return HttpResponseRedirect(page)
        if isinstance(response, TemplateResponse):  # the confirmation: "take me back" to the customer
            response.context_data["back_url"] = page
        return response
