"""The Django admin for the marketing team: coupon campaigns, created and edited here (or through
the API) by the same services, and their codes. The actions (expire, restore, generate, export)
call one service per campaign, from the list or from a campaign's own page."""

from collections.abc import Iterator

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from coupons.forms import CampaignForm
from coupons.models import CodeGeneration, Coupon, CouponCode, Redemption
from coupons.selectors import coupon_state
from coupons.services import coupon_expire, coupon_restore
from coupons.services.generation import (
    MAX_CODES_PER_REQUEST,
    QUEUE_ABOVE,
    codes_export_rows,
    codes_generate,
    codes_generate_enqueue,
)
from integrations.kernel.admin import ConfirmedActionsMixin, ReadOnlyAdmin, ReadOnlyInline
from integrations.kernel.csv_export import csv_response

REDEMPTIONS_SHOWN = 50


class RestoreForm(forms.Form):
    redeem_by = forms.DateTimeField(
        required=False,
        help_text="Optional new last moment to redeem (YYYY-MM-DD HH:MM); required if the old one has passed.",
    )


class GenerateForm(forms.Form):
    count = forms.IntegerField(
        min_value=1,
        max_value=MAX_CODES_PER_REQUEST,
        help_text=f"New unique codes per campaign, 1 to {MAX_CODES_PER_REQUEST:,}. "
        f"More than {QUEUE_ABOVE:,} are generated in the background.",
    )


class RedemptionInline(ReadOnlyInline):
    model = Redemption
    fields = ["code", "customer", "subscription_id", "created_at"]
    show_change_link = False
    verbose_name_plural = f"redemptions (the newest {REDEMPTIONS_SHOWN})"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("code", "customer").order_by("-created_at", "-pk")


def _progress(generation: CodeGeneration) -> str:
    share = 100 * generation.generated // generation.requested if generation.requested else 100
    return f"{generation.generated:,} / {generation.requested:,} ({share}%)"


class CodeGenerationInline(ReadOnlyInline):
    """Background generations and how far each has got (it grows batch by batch)."""

    model = CodeGeneration
    fields = ["public_id", "status", "progress", "error", "created_at", "finished_at"]
    show_change_link = False
    verbose_name_plural = "code generations in the background"

    @admin.display(description="progress")
    def progress(self, generation):
        return _progress(generation)


# What a campaign's own page offers, in this order: each is the list's action of that name.
CAMPAIGN_PAGE_ACTIONS = {
    "generate_codes": "Generate codes",
    "export_csv": "Export codes (CSV)",
    "expire": "Expire",
    "restore": "Restore",
}

# The page of someone who may only view a campaign: every column, read-only.
VIEW_FIELDSETS = [
    (None, {"fields": ["id", "name", "description", "kind", "code_template", "code_count"]}),
    ("Discount", {"fields": ["discount", "duration", "duration_cycles", "redemption_target", "applies_to"]}),
    ("Limits", {"fields": ["redemptions", "max_redemptions_per_customer", "redeem_by", "expired_at", "state"]}),
    ("History", {"fields": ["created_at", "updated_at"]}),
]
# Beside the form when editing: what never changes, and what the services keep up to date.
EDIT_READ_ONLY = [
    "id",
    "kind",
    "shared_code",
    "codes",
    "max_redemptions_per_customer",
    "redemptions",
    "expired_at",
    "state",
    "created_at",
    "updated_at",
]


def _edit_fieldsets(coupon: Coupon | None) -> list:
    """The form's fieldsets: adding (every field), or editing `coupon` (its own kind's fields)."""
    if coupon is None:
        identity = ["name", "description", "kind", "code", "code_template"]
        limits = ["max_redemptions", "max_redemptions_per_customer", "redeem_by"]
    else:
        code = "code_template" if coupon.kind == Coupon.Kind.BULK else "shared_code"
        identity = ["id", "name", "description", "kind", code, "codes"]
        limits = ["max_redemptions", "max_redemptions_per_customer", "redeem_by", "redemptions", "expired_at", "state"]
    fieldsets = [
        (None, {"fields": identity}),
        ("Discount", {"fields": ["discount_type", "percent_off", "amounts_off", "trial_length", "trial_unit"]}),
        ("Duration and target", {"fields": ["duration", "duration_cycles", "redemption_target", "applies_to_plans"]}),
        ("Limits", {"fields": limits}),
    ]
    if coupon is not None:
        fieldsets.append(("History", {"fields": ["created_at", "updated_at"]}))
    return fieldsets


@admin.register(Coupon)
class CouponAdmin(ConfirmedActionsMixin, admin.ModelAdmin):
    """Campaigns are added and edited through CampaignForm, which calls coupon_create and
    coupon_update (the API's services and validation); never deleted (expire instead). Someone
    who may only view sees every column read-only, and no action."""

    list_display = ["name", "kind", "discount", "duration", "redemptions", "state", "redeem_by"]
    list_filter = ["kind", "discount_type", "duration"]
    search_fields = ["name", "=id", "=codes__code"]
    inlines = [CodeGenerationInline, RedemptionInline]
    actions = ["expire", "restore", "generate_codes", "export_csv"]
    fieldsets = VIEW_FIELDSETS
    change_form_template = "admin/coupons/coupon/change_form.html"
    show_full_result_count = False

    def _editing(self, request, obj) -> bool:
        return self.has_add_permission(request) if obj is None else self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        return _edit_fieldsets(obj) if self._editing(request, obj) else VIEW_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if self._editing(request, obj):
            return EDIT_READ_ONLY
        return [field for _, options in VIEW_FIELDSETS for field in options["fields"]]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if not self._editing(request, obj):
            return super().get_form(request, obj, change, **kwargs)  # every field read-only
        return CampaignForm

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def has_delete_permission(self, request, obj=None):
        return False  # a campaign is history once redeemed: expire it instead

    def save_model(self, request, obj, form, change):
        pass  # CampaignForm saved it through the service while it validated

    def save_related(self, request, form, formsets, change):
        pass  # the service set its plans and amounts; the inlines only display

    def construct_change_message(self, request, form, formsets, add=False):
        return super().construct_change_message(request, form, None, add)  # the inlines saved nothing

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("amounts")

    def get_search_results(self, request, queryset, search_term):
        # Codes are stored upper-case; operators type them in any case.
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            found |= queryset.filter(codes__code=search_term.strip().upper())
            may_have_duplicates = True
        return found, may_have_duplicates

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, RedemptionInline) and obj is not None and obj.pk:
            # Inlines are not paginated: only the newest rows, the rest through the codes list.
            newest = obj.redemptions.order_by("-created_at", "-pk").values_list("pk", flat=True)[:REDEMPTIONS_SHOWN]
            kwargs["queryset"] = kwargs["queryset"].filter(pk__in=list(newest))
        return kwargs

    # --- a campaign's own page: its actions as buttons, each the list's action on that one campaign

    def _url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def get_urls(self):
        view = self.admin_site.admin_view(self.campaign_action_view)
        return [
            path("<path:object_id>/actions/<str:action>/", view, name=self._url_name("action")),
            *super().get_urls(),
        ]

    def _page_actions(self, request, coupon: Coupon) -> list[tuple[str, str]]:
        """(label, url) of the actions this staff member may run on this campaign as it is now."""
        allowed = self.get_actions(request)
        expired = coupon_state(coupon) == "expired"
        applies = {
            "generate_codes": coupon.kind == Coupon.Kind.BULK,
            "export_csv": coupon.kind == Coupon.Kind.BULK,
            "expire": not expired,
            "restore": expired,
        }
        return [
            (label, reverse(f"admin:{self._url_name('action')}", args=[coupon.pk, action]))
            for action, label in CAMPAIGN_PAGE_ACTIONS.items()
            if action in allowed and applies[action]
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        coupon = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if coupon is not None:
            extra_context["campaign_actions"] = self._page_actions(request, coupon)
        return super().change_view(request, object_id, form_url, extra_context)

    def campaign_action_view(self, request, object_id, action):
        """One campaign's action from its page: the list's action with its permission, its
        confirmation (posted back here) and its messages; then back to the campaign."""
        allowed = self.get_actions(request)
        if action not in CAMPAIGN_PAGE_ACTIONS or action not in allowed:
            raise PermissionDenied
        coupon = self.get_object(request, unquote(object_id))
        if coupon is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        page = reverse(f"admin:{self._url_name('change')}", args=[coupon.pk])
        run = allowed[action][0]
        response = run(self, request, Coupon.objects.filter(pk=coupon.pk))
        if response is None:
            return HttpResponseRedirect(page)
        if isinstance(response, TemplateResponse):  # the confirmation: "take me back" to the campaign
            response.context_data["back_url"] = page
        return response

    @admin.display(description="discount")
    def discount(self, coupon):
        if coupon.discount_type == Coupon.DiscountType.PERCENT:
            return f"{coupon.percent_off.normalize():f}% off"
        if coupon.discount_type == Coupon.DiscountType.AMOUNT:
            return ", ".join(f"{amount.amount} off" for amount in coupon.amounts.all())
        return f"{coupon.trial_length} {coupon.trial_unit}(s) free trial"

    @admin.display(description="redemptions", ordering="times_redeemed")
    def redemptions(self, coupon):
        limit = "∞" if coupon.max_redemptions is None else coupon.max_redemptions
        return f"{coupon.times_redeemed} / {limit}"

    @admin.display(description="state")
    def state(self, coupon):
        return coupon_state(coupon)

    @admin.display(description="plans")
    def applies_to(self, coupon):
        return ", ".join(str(plan) for plan in coupon.applies_to_plans.all()) or "all plans"

    @admin.display(description="code")
    def shared_code(self, coupon):
        shared = coupon.codes.filter(shared=True).first()
        return shared.code if shared else "—"

    @admin.display(description="codes")
    def codes(self, coupon):
        url = reverse("admin:coupons_couponcode_changelist") + f"?coupon__id__exact={coupon.pk}"
        return format_html('<a href="{}">{} code(s): search and page through them</a>', url, coupon.codes.count())

    @admin.display(description="codes")
    def code_count(self, coupon):
        return f"{coupon.codes.count()} code(s)"

    def action_name(self, obj) -> str:
        return obj.name

    def action_ref(self, obj) -> str:
        return f"{obj.name} ({obj.pk})"

    # --- actions: a confirmation page first, then one service call per campaign

    @admin.action(description="Expire (no more redemptions)", permissions=["operate"])
    def expire(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="expire",
                title="Expire campaigns?",
                question="Their codes can no longer be redeemed. Discounts already given are kept.",
            )
        self._each(request, queryset, done="Expired", call=lambda c: (True, coupon_state(coupon_expire(coupon=c))))
        return None

    @admin.action(description="Restore (redeemable again)", permissions=["operate"])
    def restore(self, request, queryset):
        form = RestoreForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_valid():
            return self._confirm(
                request,
                queryset,
                action="restore",
                title="Restore campaigns?",
                question="Their codes can be redeemed again. A campaign whose redeem-by date has passed needs a "
                "new one.",
                form=form,
            )
        redeem_by = form.cleaned_data["redeem_by"]
        self._each(
            request,
            queryset,
            done="Restored",
            call=lambda c: (True, coupon_state(coupon_restore(coupon=c, redeem_by=redeem_by))),
        )
        return None

    @admin.action(description="Generate codes (bulk campaigns)", permissions=["operate"])
    def generate_codes(self, request, queryset):
        form = GenerateForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_valid():
            return self._confirm(
                request,
                queryset,
                action="generate_codes",
                title="Generate codes?",
                question="Each bulk campaign gets this many new unique codes from its template. Single-code "
                "campaigns are skipped.",
                form=form,
            )
        count = form.cleaned_data["count"]

        def generate(coupon):
            if count > QUEUE_ABOVE:
                generation = codes_generate_enqueue(coupon=coupon, count=count)
                return True, f"{count:,} code(s) queued as {generation.public_id}, generated in the background"
            return True, f"{codes_generate(coupon=coupon, count=count):,} code(s)"

        self._each(request, queryset, done="Generated", call=generate)
        return None

    # Unused codes are worth money: exported by those who run campaigns, not by every viewer.
    @admin.action(description="Export codes as CSV (bulk campaigns)", permissions=["operate"])
    def export_csv(self, request, queryset):
        bulk = [coupon for coupon in queryset if coupon.kind == Coupon.Kind.BULK]
        skipped = [coupon.name for coupon in queryset if coupon.kind != Coupon.Kind.BULK]
        if skipped:
            self.message_user(request, f"Not exported (single-code campaigns): {', '.join(skipped)}.", messages.WARNING)
        if not bulk:
            return None

        def rows() -> Iterator[tuple]:
            for index, coupon in enumerate(bulk):
                campaign_rows = codes_export_rows(coupon=coupon)
                header = next(campaign_rows)
                if index == 0:
                    yield header
                yield from campaign_rows

        return csv_response(rows(), filename=f"{bulk[0].pk}-codes.csv" if len(bulk) == 1 else "coupon-codes.csv")


@admin.register(CouponCode)
class CouponCodeAdmin(ReadOnlyAdmin):
    list_display = ["code", "coupon", "state", "redeemed_by", "redeemed_at"]
    list_filter = ["state", "coupon"]
    search_fields = ["code"]
    list_select_related = ["coupon", "redeemed_by"]
    list_per_page = 100
    show_full_result_count = False
    readonly_fields = [
        "id",
        "coupon",
        "code",
        "shared",
        "state",
        "redeemed_by",
        "redeemed_at",
        "subscription_id",
        "created_at",
    ]
    fields = readonly_fields

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.strip().upper())


@admin.register(CodeGeneration)
class CodeGenerationAdmin(ReadOnlyAdmin):
    """Background generations of every campaign, found by their cgn_ id (what the API answered)."""

    list_display = ["public_id", "coupon", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["=public_id", "=coupon__id"]
    list_select_related = ["coupon"]
    readonly_fields = ["public_id", "coupon", "status", "progress", "error", "created_at", "finished_at"]
    fields = readonly_fields

    @admin.display(description="progress")
    def progress(self, generation):
        return _progress(generation)
