"""Campaigns: one shared code or bulk unique codes, their terms (locked once redeemed), limits, expiry and restore."""

import re
import secrets
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from moneyed import Money

from coupons.models import Coupon, CouponAmount, CouponCode
from coupons.representations import coupon_payload
from coupons.selectors import coupon_state
from integrations.kernel import clock
from integrations.kernel.bounds import column_int
from integrations.kernel.errors import InvalidRequest, Unprocessable
from integrations.services import event_emit
from payments.currency import normalize_currency, parse_amount

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")


# No look-alikes: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

# Bulk codes must not be guessable: at least 8 random positions (31**8, about 8.5e11 values), and
# a template's space at most one code in GUESSES_PER_CODE full (coupons.services.generation).
MIN_RANDOM_POSITIONS = 8
GUESSES_PER_CODE = 1_000_000


def code_space(template: str) -> int:
    """How many codes a template can make: the alphabet to the power of its '*' positions."""
    return len(CODE_ALPHABET) ** template.count("*")


def code_template_normalize(raw: object) -> str:
    """A bulk campaign's template, upper-case: fixed letters, digits, '-' or '_' and at least
    MIN_RANDOM_POSITIONS '*' random positions; else 400 parameter_invalid on code_template."""
    template = str(raw or "").strip().upper()
    if not CODE_RE.match(template.replace("*", "A")):
        raise InvalidRequest(
            "code_template is 3-64 letters, digits, '-', '_' and '*' (a random position), e.g. SPRING-********.",
            code="parameter_invalid",
            param="code_template",
        )
    if template.count("*") < MIN_RANDOM_POSITIONS:
        raise InvalidRequest(
            f"code_template needs at least {MIN_RANDOM_POSITIONS} '*' random positions so that codes cannot be "
            f"guessed (it has {template.count('*')}), e.g. SPRING-********.",
            code="parameter_invalid",
            param="code_template",
        )
    return template


TERM_FIELDS = ("discount", "duration", "duration_cycles", "redemption_target")


EDITABLE_FIELDS = (
    "name",
    "description",
    "redeem_by",
    "max_redemptions",
    "applies_to_plans",
    "code_template",
    *TERM_FIELDS,
)


def _emit(coupon: Coupon, type_: str, customer_id: str = "", **extra) -> None:
    event_emit(type=f"coupon.{type_}", payload={"coupon": coupon_payload(coupon), **extra}, customer_id=customer_id)


def normalize_code(raw: object, *, param: str = "code") -> str:
    code = str(raw or "").strip().upper()
    if not CODE_RE.match(code):
        raise InvalidRequest("A code is 3-64 letters, digits, '-' or '_'.", code="parameter_invalid", param=param)
    return code


def _discount_columns(discount: object) -> tuple[dict, list[Money]]:
    if not isinstance(discount, dict):
        raise InvalidRequest("discount is {type, ...}.", code="parameter_invalid", param="discount")
    kind = discount.get("type")
    columns = {"discount_type": kind, "percent_off": None, "trial_length": None, "trial_unit": ""}
    amounts: list[Money] = []
    if kind == Coupon.DiscountType.PERCENT:
        from decimal import Decimal, InvalidOperation

        try:
            percent = Decimal(str(discount.get("percent_off")))
        except InvalidOperation:
            percent = Decimal(-1)
        if (
            isinstance(discount.get("percent_off"), float)
            or not percent.is_finite()
            or not (0 < percent <= 100)
            or percent.as_tuple().exponent < -4
        ):
            raise InvalidRequest(
                "percent_off is a decimal string above 0 and at most 100.",
                code="parameter_invalid",
                param="discount.percent_off",
            )
        columns["percent_off"] = percent
    elif kind == Coupon.DiscountType.AMOUNT:
        raw = discount.get("amounts_off")
        if not isinstance(raw, list) or not raw:
            raise InvalidRequest(
                "amounts_off needs one amount per currency.", code="parameter_missing", param="discount.amounts_off"
            )
        seen = set()
        for index, item in enumerate(raw):
            param = f"discount.amounts_off[{index}]"
            if not isinstance(item, dict):
                raise InvalidRequest("An amount is {amount, currency}.", code="parameter_invalid", param=param)
            try:  # the error names the item at fault (the admin's form shows it beside that item)
                currency = normalize_currency(item.get("currency"))
                amount = parse_amount(item.get("amount"), currency, allow_zero=False)
            except InvalidRequest as error:
                error.param = error.param or param
                raise
            if currency in seen:
                raise InvalidRequest(f"Two amounts in {currency}.", code="duplicate_currency", param=param)
            seen.add(currency)
            amounts.append(Money(amount, currency))
    elif kind == Coupon.DiscountType.FREE_TRIAL:
        trial = discount.get("trial") if isinstance(discount.get("trial"), dict) else {}
        length, unit = trial.get("length"), trial.get("unit")
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 3650:
            raise InvalidRequest(
                "trial.length is a whole number from 1.", code="parameter_invalid", param="discount.trial.length"
            )
        if unit not in Coupon.TrialUnit.values:
            raise InvalidRequest(
                "trial.unit is day, week or month.", code="parameter_invalid", param="discount.trial.unit"
            )
        columns.update(trial_length=length, trial_unit=unit)
    else:
        raise InvalidRequest(
            "discount.type is percent, amount or free_trial.", code="parameter_invalid", param="discount.type"
        )
    return columns, amounts


# plans registers how to tell which plan ids exist (coupons knows plans only by id).
_plan_ids_existing: list[Callable[[list[str]], set[str]]] = []


def plan_ids_checker_register(check: Callable[[list[str]], set[str]]) -> None:
    if check not in _plan_ids_existing:
        _plan_ids_existing.append(check)


def _plans(plan_ids) -> list[str]:
    plan_ids = sorted({str(plan_id) for plan_id in (plan_ids or [])})
    known = set().union(*(check(plan_ids) for check in _plan_ids_existing)) if plan_ids else set()
    if set(plan_ids) - known:
        raise InvalidRequest(
            "applies_to_plans names a plan that does not exist.", code="resource_missing", param="applies_to_plans"
        )
    return plan_ids


def _duration_columns(duration, cycles, discount_type) -> dict:
    if discount_type == Coupon.DiscountType.FREE_TRIAL:
        return {"duration": Coupon.Duration.ONCE, "duration_cycles": None}
    if duration not in Coupon.Duration.values:
        raise InvalidRequest("duration is once, repeating or forever.", code="parameter_invalid", param="duration")
    if duration == Coupon.Duration.REPEATING:
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
            raise InvalidRequest(
                "A repeating coupon needs duration_cycles >= 1.", code="parameter_invalid", param="duration_cycles"
            )
        return {"duration": duration, "duration_cycles": column_int(cycles, model=Coupon, field="duration_cycles")}
    return {"duration": duration, "duration_cycles": None}


def _limit(value, *, param: str, allow_none: bool = True):
    """At least 1 and what the coupon's column holds."""
    return column_int(value, model=Coupon, field=param, minimum=1, allow_none=allow_none)


@transaction.atomic
def coupon_create(
    *,
    name: str,
    kind: str,
    discount: dict,
    duration: str = "once",
    duration_cycles: int | None = None,
    code: str | None = None,
    code_template: str = "",
    applies_to_plans=(),
    redemption_target: str = "subscription",
    max_redemptions: int | None = None,
    max_redemptions_per_customer: int = 1,
    redeem_by: datetime | None = None,
    description: str = "",
) -> Coupon:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("name is required.", code="parameter_missing", param="name")
    if kind not in Coupon.Kind.values:
        raise InvalidRequest("kind is single_code or bulk.", code="parameter_invalid", param="kind")
    if redemption_target not in Coupon.Target.values:
        raise InvalidRequest(
            "redemption_target is account or subscription.", code="parameter_invalid", param="redemption_target"
        )
    columns, amounts = _discount_columns(discount)
    columns.update(_duration_columns(duration, duration_cycles, columns["discount_type"]))
    if kind == Coupon.Kind.SINGLE_CODE:
        code = normalize_code(code)
        if CouponCode.objects.filter(code=code).exists():
            raise Unprocessable(f"The code {code} is taken.", code="coupon_code_taken", param="code")
        code_template = ""
    else:
        code_template = code_template_normalize(code_template)
    coupon = Coupon.objects.create(
        name=name.strip(),
        description=description or "",
        kind=kind,
        code_template=code_template,
        redemption_target=redemption_target,
        max_redemptions=_limit(max_redemptions, param="max_redemptions"),
        max_redemptions_per_customer=_limit(
            max_redemptions_per_customer, param="max_redemptions_per_customer", allow_none=False
        ),
        redeem_by=redeem_by,
        **columns,
    )
    CouponAmount.objects.bulk_create([CouponAmount(coupon=coupon, amount=amount) for amount in amounts])
    coupon.applies_to_plans.set(_plans(applies_to_plans))
    if kind == Coupon.Kind.SINGLE_CODE:
        try:
            with transaction.atomic():
                CouponCode.objects.create(coupon=coupon, code=code, shared=True)
        except IntegrityError:
            raise Unprocessable(f"The code {code} is taken.", code="coupon_code_taken", param="code") from None
    _emit(coupon, "created")
    return coupon


@transaction.atomic
def coupon_update(*, coupon: Coupon, **changes) -> Coupon:
    """Name, description, redeem_by, max_redemptions, plans and a bulk campaign's code_template
    can always change; the discount terms only until the first redemption (422 coupon_terms_locked)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"Cannot change {', '.join(sorted(unknown))}.", code="parameter_invalid", param=sorted(unknown)[0]
        )
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if set(changes) & set(TERM_FIELDS) and coupon.times_redeemed > 0:
        raise Unprocessable(
            "The discount terms are locked once the coupon has been redeemed.", code="coupon_terms_locked"
        )
    if "discount" in changes:
        columns, amounts = _discount_columns(changes.pop("discount"))
        for field, value in columns.items():
            setattr(coupon, field, value)
        coupon.amounts.all().delete()
        CouponAmount.objects.bulk_create([CouponAmount(coupon=coupon, amount=amount) for amount in amounts])
    if "duration" in changes or "duration_cycles" in changes:
        duration_columns = _duration_columns(
            changes.pop("duration", coupon.duration),
            changes.pop("duration_cycles", coupon.duration_cycles),
            coupon.discount_type,
        )
        for field, value in duration_columns.items():
            setattr(coupon, field, value)
    if "redemption_target" in changes:
        target = changes.pop("redemption_target")
        if target not in Coupon.Target.values:
            raise InvalidRequest(
                "redemption_target is account or subscription.", code="parameter_invalid", param="redemption_target"
            )
        coupon.redemption_target = target
    if "max_redemptions" in changes:
        limit = _limit(changes.pop("max_redemptions"), param="max_redemptions")
        if limit is not None and limit < coupon.times_redeemed:
            raise Unprocessable(
                f"max_redemptions cannot go below the {coupon.times_redeemed} redemptions made.",
                code="parameter_invalid",
                param="max_redemptions",
            )
        coupon.max_redemptions = limit
    if "applies_to_plans" in changes:
        coupon.applies_to_plans.set(_plans(changes.pop("applies_to_plans")))
    if "code_template" in changes:
        # Codes made from then on follow it; those already made stay as they are.
        template = changes.pop("code_template")
        if coupon.kind != Coupon.Kind.BULK:
            raise InvalidRequest(
                "Only bulk campaigns have a code_template.", code="parameter_invalid", param="code_template"
            )
        coupon.code_template = code_template_normalize(template)
    for field in ("name", "description", "redeem_by"):
        if field in changes:
            setattr(coupon, field, changes.pop(field) if field != "description" else (changes.pop(field) or ""))
    coupon.save()
    _emit(coupon, "updated")
    return coupon


@transaction.atomic
def coupon_expire(*, coupon: Coupon, at: datetime | None = None) -> Coupon:
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if coupon.expired_at is None:
        coupon.expired_at = at or clock.now()
        coupon.save(update_fields=["expired_at", "updated_at"])
        # Each unused code carries the campaign's state: what the operator sees and exports.
        coupon.codes.filter(state=CouponCode.State.REDEEMABLE).update(state=CouponCode.State.EXPIRED)
        _emit(coupon, "expired")
    return coupon


@transaction.atomic
def coupon_restore(*, coupon: Coupon, redeem_by: datetime | None = None) -> Coupon:
    """Bring an expired campaign back; one whose redeem_by has passed needs a new one."""
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    now = clock.now()
    was_expired = coupon_state(coupon, now) == "expired"
    if redeem_by is not None:
        if redeem_by <= now:
            raise InvalidRequest("redeem_by must be in the future.", code="parameter_invalid", param="redeem_by")
        coupon.redeem_by = redeem_by
    elif coupon.redeem_by is not None and coupon.redeem_by <= now:
        raise InvalidRequest(
            "This campaign's redeem_by has passed: give a new one.", code="parameter_missing", param="redeem_by"
        )
    coupon.expired_at = None
    coupon.save(update_fields=["expired_at", "redeem_by", "updated_at"])
    coupon.codes.filter(state=CouponCode.State.EXPIRED).update(state=CouponCode.State.REDEEMABLE)
    if was_expired:
        _emit(coupon, "restored")
    return coupon


def coupons_expire_due(as_of: datetime) -> int:
    """Campaigns past their redeem_by become expired (the billing engine's hook; safe to rerun)."""
    count = 0
    for coupon in Coupon.objects.filter(expired_at__isnull=True, redeem_by__lte=as_of):
        with transaction.atomic():
            if Coupon.objects.filter(pk=coupon.pk, expired_at__isnull=True).update(expired_at=coupon.redeem_by):
                coupon.expired_at = coupon.redeem_by
                coupon.codes.filter(state=CouponCode.State.REDEEMABLE).update(state=CouponCode.State.EXPIRED)
                _emit(coupon, "expired")
                count += 1
    return count


def code_from_template(template: str) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) if char == "*" else char for char in template)
