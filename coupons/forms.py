"""The marketing team's campaign form in the admin: the API's coupon fields as an operator fills
them in. It validates by calling the services themselves (coupon_create, coupon_update) inside a
savepoint: a refusal becomes a form error on the field the service names and leaves nothing
written; a success is the saved campaign (the admin then saves nothing more)."""

import re

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime, FilteredSelectMultiple
from django.db import transaction

from coupons.models import Coupon
from coupons.selectors import plan_choices
from coupons.services import coupon_create, coupon_update
from integrations.kernel.api.fields import DESCRIPTION_MAX_LENGTH
from integrations.kernel.errors import DomainError
from payments.currency import format_amount

# The form's fields that make up the service's `discount` argument.
DISCOUNT_FIELDS = ("discount_type", "percent_off", "amounts_off", "trial_length", "trial_unit")
# The form's fields that are discount terms (locked once the campaign has been redeemed).
TERM_FORM_FIELDS = (*DISCOUNT_FIELDS, "duration", "duration_cycles", "redemption_target")
# Only when adding: a campaign's kind, its one code and the per-customer limit never change.
ADD_ONLY_FIELDS = ("kind", "code", "max_redemptions_per_customer")

# A service's `param` -> the form field it is about.
_PARAM_FIELDS = {
    "discount": "discount_type",
    "discount.type": "discount_type",
    "discount.percent_off": "percent_off",
    "discount.amounts_off": "amounts_off",
    "discount.trial.length": "trial_length",
    "discount.trial.unit": "trial_unit",
}
_ITEM_INDEX = re.compile(r"^(?P<base>[\w.]+)\[(?P<index>\d+)\]")
_AMOUNT_SEPARATORS = re.compile(r"[,;\n]+")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")

AMOUNTS_HELP = (
    "Amount campaigns: one amount per currency, a currency code and an amount, separated by commas, "
    "e.g. EUR 5.00, USD 6.00, JPY 700. A customer paying in a currency not listed cannot redeem it."
)


class AmountsOffError(ValueError):
    """An item of the amounts field that is not a currency and an amount."""


def amounts_off_parse(text: str) -> list[dict]:
    """'EUR 5.00, USD 6.00' (or '5.00 EUR'; commas, semicolons or lines between) -> the API's
    amounts_off items [{currency, amount}], which the service then checks as it checks the API's."""
    items = []
    for raw in _AMOUNT_SEPARATORS.split(text or ""):
        item = raw.strip()
        if not item:
            continue
        parts = item.split()
        currencies = [part for part in parts if _CURRENCY.match(part)]
        amounts = [part for part in parts if not _CURRENCY.match(part)]
        if len(parts) != 2 or len(currencies) != 1:
            raise AmountsOffError(f"'{item}' is not a currency and an amount, e.g. EUR 5.00.")
        items.append({"currency": currencies[0].upper(), "amount": amounts[0]})
    return items


def amounts_off_format(coupon: Coupon) -> str:
    """A campaign's amounts as the field shows them: 'EUR 5.00, JPY 700'."""
    rows = sorted(coupon.amounts.all(), key=lambda row: row.amount.currency.code)
    return ", ".join(
        f"{row.amount.currency.code} {format_amount(row.amount.amount, row.amount.currency.code)}" for row in rows
    )


class CampaignForm(forms.ModelForm):
    """Add or edit a campaign. The fields are the services' arguments, not columns (Meta.fields is
    empty: the form never writes the model itself)."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, max_length=DESCRIPTION_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )
    kind = forms.ChoiceField(
        choices=[
            (Coupon.Kind.SINGLE_CODE, "Single code: one code that many customers type"),
            (Coupon.Kind.BULK, "Bulk: unique single-use codes, generated after saving"),
        ],
        initial=Coupon.Kind.SINGLE_CODE,
        widget=forms.RadioSelect,
    )
    code = forms.CharField(
        required=False,
        max_length=255,
        help_text="Single code: what customers type, e.g. SPRING25 (3-64 letters, digits, '-' or '_'; any case).",
    )
    code_template = forms.CharField(
        required=False,
        max_length=64,
        help_text="Bulk: fixed characters and at least 8 '*' (each a random character), e.g. SPRING-********. "
        "Changing it changes the codes generated from then on.",
    )
    discount_type = forms.ChoiceField(
        label="Discount",
        choices=[
            (Coupon.DiscountType.PERCENT, "Percent off"),
            (Coupon.DiscountType.AMOUNT, "Amount off, per currency"),
            (Coupon.DiscountType.FREE_TRIAL, "Free trial"),
        ],
        initial=Coupon.DiscountType.PERCENT,
        widget=forms.RadioSelect,
    )
    percent_off = forms.CharField(
        required=False, max_length=12, help_text="Percent campaigns: above 0 and at most 100, e.g. 25 or 12.5."
    )
    amounts_off = forms.CharField(
        required=False,
        max_length=1000,
        label="Amounts off",
        help_text=AMOUNTS_HELP,
        widget=forms.TextInput(attrs={"size": 60, "placeholder": "EUR 5.00, USD 6.00"}),
    )
    trial_length = forms.IntegerField(required=False, min_value=1, max_value=3650, help_text="Free trial: how long.")
    trial_unit = forms.ChoiceField(required=False, choices=[("", "---------"), *Coupon.TrialUnit.choices])
    duration = forms.ChoiceField(
        choices=[
            (Coupon.Duration.ONCE, "Once: the first invoice"),
            (Coupon.Duration.REPEATING, "Repeating: the next N invoices (cycles)"),
            (Coupon.Duration.FOREVER, "Forever"),
        ],
        initial=Coupon.Duration.ONCE,
        widget=forms.RadioSelect,
        help_text="A free trial applies once, whatever is chosen here.",
    )
    duration_cycles = forms.IntegerField(
        required=False, min_value=1, label="Cycles", help_text="Repeating: how many invoices it takes off."
    )
    redemption_target = forms.ChoiceField(
        label="Applies to",
        choices=[
            (Coupon.Target.SUBSCRIPTION, "One subscription: the one it is redeemed with"),
            (Coupon.Target.ACCOUNT, "The account: every invoice of the customer"),
        ],
        initial=Coupon.Target.SUBSCRIPTION,
        widget=forms.RadioSelect,
    )
    applies_to_plans = forms.MultipleChoiceField(
        required=False,
        label="Plans",
        widget=FilteredSelectMultiple("plans", is_stacked=False),
        help_text="None chosen: every plan.",
    )
    max_redemptions = forms.IntegerField(
        required=False, min_value=1, help_text="Redemptions by all customers together; empty = unlimited."
    )
    max_redemptions_per_customer = forms.IntegerField(min_value=1, initial=1, label="Max redemptions per customer")
    redeem_by = forms.SplitDateTimeField(
        required=False,
        widget=AdminSplitDateTime,
        label="Redeem by",
        help_text="The last moment it can be redeemed (UTC); empty = no end.",
    )

    class Meta:
        model = Coupon
        fields = []

    class Media:
        js = ["coupons/campaign_form.js"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.adding = self.instance._state.adding
        chosen = [] if self.adding else list(self.instance.applies_to_plans.values_list("pk", flat=True))
        self.fields["applies_to_plans"].choices = plan_choices(selected=chosen)
        if self.adding:
            return
        for name in ADD_ONLY_FIELDS:
            del self.fields[name]
        if self.instance.kind != Coupon.Kind.BULK:
            del self.fields["code_template"]
        self.initial.update(self._initial_from(self.instance, chosen))
        if self.instance.times_redeemed > 0:
            for name in TERM_FORM_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = "Locked: the campaign has been redeemed."

    @staticmethod
    def _initial_from(coupon: Coupon, chosen: list[str]) -> dict:
        return {
            "name": coupon.name,
            "description": coupon.description,
            "code_template": coupon.code_template,
            "discount_type": coupon.discount_type,
            "percent_off": f"{coupon.percent_off.normalize():f}" if coupon.percent_off is not None else "",
            "amounts_off": amounts_off_format(coupon),
            "trial_length": coupon.trial_length,
            "trial_unit": coupon.trial_unit,
            "duration": coupon.duration,
            "duration_cycles": coupon.duration_cycles,
            "redemption_target": coupon.redemption_target,
            "applies_to_plans": chosen,
            "max_redemptions": coupon.max_redemptions,
            "redeem_by": coupon.redeem_by,
        }

    def _post_clean(self):
        pass  # no model validation: the service validates everything in clean(), and writes

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            discount = self._discount(cleaned)
        except AmountsOffError as error:
            self.add_error("amounts_off", str(error))
            return cleaned
        try:
            with transaction.atomic():  # a refusal rolls back whatever the service had written
                self.instance = self._save(cleaned, discount)
        except DomainError as error:
            self._add_service_error(error, discount)
        return cleaned

    def _discount(self, cleaned) -> dict:
        kind = cleaned["discount_type"]
        if kind == Coupon.DiscountType.PERCENT:
            return {"type": kind, "percent_off": (cleaned["percent_off"] or "").strip()}
        if kind == Coupon.DiscountType.AMOUNT:
            return {"type": kind, "amounts_off": amounts_off_parse(cleaned["amounts_off"])}
        return {"type": kind, "trial": {"length": cleaned["trial_length"], "unit": cleaned["trial_unit"]}}

    def _save(self, cleaned, discount) -> Coupon:
        if self.adding:
            return coupon_create(
                name=cleaned["name"],
                description=cleaned["description"],
                kind=cleaned["kind"],
                code=cleaned["code"] if cleaned["kind"] == Coupon.Kind.SINGLE_CODE else None,
                code_template=cleaned["code_template"] if cleaned["kind"] == Coupon.Kind.BULK else "",
                discount=discount,
                duration=cleaned["duration"],
                duration_cycles=cleaned["duration_cycles"],
                redemption_target=cleaned["redemption_target"],
                applies_to_plans=cleaned["applies_to_plans"],
                max_redemptions=cleaned["max_redemptions"],
                max_redemptions_per_customer=cleaned["max_redemptions_per_customer"],
                redeem_by=cleaned["redeem_by"],
            )
        changes = self._changes(cleaned, discount)
        if not changes:
            return self.instance
        return coupon_update(coupon=self.instance, **changes)

    def _changes(self, cleaned, discount) -> dict:
        """What the operator changed, as coupon_update takes it: the discount as a whole when any
        of its fields changed, with the duration again (a free trial makes it 'once')."""
        changed = set(self.changed_data)
        changes = {
            field: cleaned[field]
            for field in ("name", "description", "code_template", "max_redemptions", "applies_to_plans", "redeem_by")
            if field in changed
        }
        if changed & set(DISCOUNT_FIELDS):
            changes["discount"] = discount
        if changed & {*DISCOUNT_FIELDS, "duration", "duration_cycles"}:
            changes["duration"], changes["duration_cycles"] = cleaned["duration"], cleaned["duration_cycles"]
        if "redemption_target" in changed:
            changes["redemption_target"] = cleaned["redemption_target"]
        return changes

    def _add_service_error(self, error: DomainError, discount: dict) -> None:
        param = error.param or ""
        message = error.message
        match = _ITEM_INDEX.match(param)
        if match:
            param = match["base"]
            items = discount.get("amounts_off") or []
            index = int(match["index"])
            if param == "discount.amounts_off" and index < len(items):
                item = items[index]
                message = f"{item['currency']} {item['amount']}: {message}"
        field = _PARAM_FIELDS.get(param, param)
        if field in self.fields and not self.fields[field].disabled:
            self.add_error(field, message)
        else:
            self.add_error(None, message)
