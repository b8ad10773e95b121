"""The Django admin for the marketing team: coupon campaigns and their codes. Campaigns are created
and edited through the API; here they are read, and the actions call one service per campaign."""

from collections.abc import Iterator

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

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


@admin.register(Coupon)
class CouponAdmin(ConfirmedActionsMixin, ReadOnlyAdmin):
    """Read-only: campaigns are created and edited through the API. The actions call the services."""

    list_display = ["name", "kind", "discount", "duration", "redemptions", "state", "redeem_by"]
    list_filter = ["kind", "discount_type", "duration"]
    search_fields = ["name", "=id", "=codes__code"]
    inlines = [CodeGenerationInline, RedemptionInline]
    actions = ["expire", "restore", "generate_codes", "export_csv"]
    fieldsets = [
        (None, {"fields": ["about", "id", "name", "description", "kind", "code_template", "codes"]}),
        (
            "Discount",
            {"fields": ["discount", "duration", "duration_cycles", "redemption_target", "applies_to"]},
        ),
        (
            "Limits",
            {"fields": ["redemptions", "max_redemptions_per_customer", "redeem_by", "expired_at", "state"]},
        ),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [field for _, options in self.fieldsets for field in options["fields"]]

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

    @admin.display(description="")
    def about(self, coupon):
        return (
            "Campaigns are created and edited through the API; this page is read-only. Use the actions "
            "on the campaign list to expire, restore, generate codes or export them."
        )

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

    @admin.display(description="codes")
    def codes(self, coupon):
        url = reverse("admin:coupons_couponcode_changelist") + f"?coupon__id__exact={coupon.pk}"
        return format_html('<a href="{}">{} code(s): search and page through them</a>', url, coupon.codes.count())

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

    @admin.action(description="Export codes as CSV (bulk campaigns)", permissions=["view"])
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
