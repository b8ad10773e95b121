"""Writes for coupons: campaigns, codes, redemption under lock, and the discounts the billing
engine takes off invoices."""

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from moneyed import Money

from coupons.arithmetic import CurrencyNotSupported, DiscountTerms, combine, discount_for
from coupons.models import Coupon, CouponAmount, CouponCode, Discount, Redemption
from integrations.kernel import clock
from integrations.kernel.errors import InvalidRequest, Unprocessable
from integrations.services import event_emit
from payments.currency import money_repr, normalize_currency, parse_amount

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")
# No look-alikes: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TERM_FIELDS = ("discount", "duration", "duration_cycles", "redemption_target")
EDITABLE_FIELDS = ("name", "description", "redeem_by", "max_redemptions", "applies_to_plans", *TERM_FIELDS)


class CouponRefused(InvalidRequest):
    """A code that cannot be used here; `code` is one of API.md's coupon error codes."""


# --- Reading ------------------------------------------------------------------------------------


def coupon_state(coupon: Coupon, at: datetime | None = None) -> str:
    at = at or clock.now()
    if coupon.expired_at is not None or (coupon.redeem_by is not None and coupon.redeem_by <= at):
        return "expired"
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        return "maxed_out"
    return "active"


def coupon_terms(coupon: Coupon) -> DiscountTerms | None:
    if coupon.discount_type == Coupon.DiscountType.PERCENT:
        return DiscountTerms(type="percent", percent_off=coupon.percent_off, label=coupon.name)
    if coupon.discount_type == Coupon.DiscountType.AMOUNT:
        amounts = {row.amount.currency.code: row.amount for row in coupon.amounts.all()}
        return DiscountTerms(type="amount", amounts_off=amounts, label=coupon.name)
    return None  # a free trial changes the trial, not an amount


def coupon_discount_repr(coupon: Coupon) -> dict:
    """What a coupon takes off, as the API and events show it."""
    discount: dict = {"type": coupon.discount_type}
    if coupon.discount_type == Coupon.DiscountType.PERCENT:
        discount["percent_off"] = f"{coupon.percent_off.normalize():f}"
    elif coupon.discount_type == Coupon.DiscountType.AMOUNT:
        discount["amounts_off"] = [money_repr(row.amount) for row in coupon.amounts.all().order_by("amount_currency")]
    else:
        discount["trial"] = {"length": coupon.trial_length, "unit": coupon.trial_unit}
    return discount


def coupon_payload(coupon: Coupon) -> dict:
    shared = coupon.codes.filter(shared=True).first() if coupon.kind == Coupon.Kind.SINGLE_CODE else None
    return {
        "id": coupon.id,
        "name": coupon.name,
        "description": coupon.description,
        "kind": coupon.kind,
        "code": shared.code if shared else None,
        "code_template": coupon.code_template or None,
        "discount": coupon_discount_repr(coupon),
        "duration": coupon.duration,
        "duration_cycles": coupon.duration_cycles,
        "applies_to_plans": sorted(coupon.applies_to_plans.values_list("id", flat=True)),
        "redemption_target": coupon.redemption_target,
        "max_redemptions": coupon.max_redemptions,
        "max_redemptions_per_customer": coupon.max_redemptions_per_customer,
        "redeem_by": coupon.redeem_by,
        "state": coupon_state(coupon),
        "times_redeemed": coupon.times_redeemed,
    }


def _emit(coupon: Coupon, type_: str, customer_id: str = "", **extra) -> None:
    event_emit(type=f"coupon.{type_}", payload={"coupon": coupon_payload(coupon), **extra}, customer_id=customer_id)


# --- Campaigns ----------------------------------------------------------------------------------


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
            currency = normalize_currency(item.get("currency"))
            if currency in seen:
                raise InvalidRequest(f"Two amounts in {currency}.", code="duplicate_currency", param=param)
            seen.add(currency)
            amounts.append(Money(parse_amount(item.get("amount"), currency, allow_zero=False), currency))
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
        return {"duration": duration, "duration_cycles": cycles}
    return {"duration": duration, "duration_cycles": None}


def _limit(value, *, param: str, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{param} is a whole number of at least 1.", code="parameter_invalid", param=param)
    return value


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
        code_template = str(code_template or "").strip().upper()
        if code_template.count("*") < 6 or not CODE_RE.match(code_template.replace("*", "A")):
            raise InvalidRequest(
                "code_template needs at least six '*' random positions, e.g. SPRING-********.",
                code="parameter_invalid",
                param="code_template",
            )
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
    """Name, description, redeem_by, max_redemptions and plans can always change; the discount
    terms only until the first redemption (422 coupon_terms_locked)."""
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


# --- Codes --------------------------------------------------------------------------------------


def code_from_template(template: str) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) if char == "*" else char for char in template)


# --- Redemption ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    coupon: Coupon
    code: CouponCode


def coupon_find(*, code: object) -> Found:
    try:
        normalized = normalize_code(code, param="coupon_code")
    except InvalidRequest:
        raise CouponRefused("No such coupon.", code="coupon_not_found", param="coupon_code") from None
    row = CouponCode.objects.select_related("coupon").filter(code=normalized).first()
    if row is None:
        raise CouponRefused("No such coupon.", code="coupon_not_found", param="coupon_code")
    return Found(coupon=row.coupon, code=row)


def coupon_check(
    *, found: Found, customer, target: str, plan_id: str | None = None, currency: str | None = None
) -> None:
    """Every rule, in the order a customer would want to hear them; raises CouponRefused. The
    caller (plans) gives the plan's id; what else applies to which plan is the caller's rule."""
    coupon, code = found.coupon, found.code
    state = coupon_state(coupon)
    if state == "expired" or code.state == CouponCode.State.EXPIRED:
        raise CouponRefused("This coupon has expired.", code="coupon_expired", param="coupon_code")
    if state == "maxed_out":
        raise CouponRefused("This coupon has been used up.", code="coupon_maxed_out", param="coupon_code")
    if code.state == CouponCode.State.REDEEMED:
        raise CouponRefused("This code has already been used.", code="coupon_already_redeemed", param="coupon_code")
    used = Redemption.objects.filter(coupon=coupon, customer=customer).count()
    if used >= coupon.max_redemptions_per_customer:
        raise CouponRefused("You have already used this coupon.", code="coupon_already_redeemed", param="coupon_code")
    if coupon.redemption_target != target:
        raise CouponRefused(
            "This coupon is redeemed on the account."
            if target == "subscription"
            else "This coupon is used at checkout.",
            code="coupon_not_applicable",
            param="coupon_code",
        )
    if (
        plan_id is not None
        and coupon.applies_to_plans.exists()
        and not coupon.applies_to_plans.filter(pk=plan_id).exists()
    ):
        raise CouponRefused(
            "This coupon does not apply to this plan.", code="coupon_not_applicable", param="coupon_code"
        )
    if (
        currency
        and coupon.discount_type == Coupon.DiscountType.AMOUNT
        and not coupon.amounts.filter(amount_currency=currency).exists()
    ):
        raise CouponRefused(
            f"This coupon has no amount in {currency}.", code="coupon_currency_unsupported", param="coupon_code"
        )


def coupon_redeem(
    *,
    code: object,
    customer,
    target: str,
    plan_id: str | None = None,
    currency: str | None = None,
    subscription_id: str = "",
    used_now: bool = False,
) -> Redemption:
    """Redeem under lock: the campaign row (and a bulk code's row) are locked and every limit is
    re-checked; the counter moves with F(); the unique (coupon, customer, sequence) and the
    campaign's CHECK constraint have the last word. Runs in the caller's transaction if any.
    `used_now`: the discount is taken by this one purchase (a pass), none is left for later."""
    found = coupon_find(code=code)
    with transaction.atomic():
        coupon = Coupon.objects.select_for_update().get(pk=found.coupon.pk)
        code_row = CouponCode.objects.select_for_update().get(pk=found.code.pk)
        coupon_check(
            found=Found(coupon=coupon, code=code_row),
            customer=customer,
            target=target,
            plan_id=plan_id,
            currency=currency,
        )
        sequence = Redemption.objects.filter(coupon=coupon, customer=customer).count() + 1
        try:
            with transaction.atomic():
                redemption = Redemption.objects.create(
                    coupon=coupon, code=code_row, customer=customer, sequence=sequence, subscription_id=subscription_id
                )
                Coupon.objects.filter(pk=coupon.pk).update(times_redeemed=F("times_redeemed") + 1)
        except IntegrityError:
            raise CouponRefused(
                "You have already used this coupon.", code="coupon_already_redeemed", param="coupon_code"
            ) from None
        if not code_row.shared:
            CouponCode.objects.filter(pk=code_row.pk).update(
                state=CouponCode.State.REDEEMED,
                redeemed_by=customer,
                redeemed_at=clock.now(),
                subscription_id=subscription_id,
            )
        if coupon.discount_type != Coupon.DiscountType.FREE_TRIAL:
            cycles = {Coupon.Duration.ONCE: 1, Coupon.Duration.REPEATING: coupon.duration_cycles}.get(coupon.duration)
            Discount.objects.create(
                coupon=coupon,
                redemption=redemption,
                customer=customer,
                subscription_id=subscription_id,
                cycles_remaining=0 if used_now else cycles,
                active=not used_now,
            )
        coupon.refresh_from_db()
        _emit(coupon, "redeemed", customer_id=customer.id, code=code_row.code, subscription=subscription_id or None)
        if coupon_state(coupon) == "maxed_out":
            _emit(coupon, "maxed_out")
    return redemption


@transaction.atomic
def redemptions_release(*, subscription_id: str = "", redemption_id: int | None = None) -> int:
    """Give back what a purchase that never happened redeemed (a subscription whose first payment
    failed, by its id; a pass, by its redemption)."""
    if not subscription_id and redemption_id is None:
        return 0
    released = 0
    chosen = (
        Redemption.objects.filter(pk=redemption_id)
        if redemption_id is not None
        else Redemption.objects.filter(subscription_id=subscription_id)
    )
    for redemption in chosen.select_for_update():
        Coupon.objects.filter(pk=redemption.coupon_id).update(times_redeemed=F("times_redeemed") - 1)
        CouponCode.objects.filter(pk=redemption.code_id, shared=False).update(
            state=CouponCode.State.REDEEMABLE, redeemed_by=None, redeemed_at=None, subscription_id=""
        )
        Discount.objects.filter(redemption=redemption).delete()
        redemption.delete()
        released += 1
    return released


def trial_override_for(coupon: Coupon) -> tuple[int, str] | None:
    """A free-trial coupon's trial (length, unit), which replaces the plan's."""
    if coupon.discount_type != Coupon.DiscountType.FREE_TRIAL:
        return None
    return coupon.trial_length, coupon.trial_unit


# --- Discounts on invoices (the billing engine's hook) -----------------------------------------


def discount_for_invoice(*, subscription_id: str, customer_id: str, purpose: str, amount: Money) -> Money:
    """The active discounts on this subscription and its customer's account, combined
    (subscription-level first, then account-level on what is left), each counting down a cycle."""
    if purpose not in ("first", "renewal") or amount.amount <= 0:
        return Money(0, amount.currency)
    active = list(
        Discount.objects.select_for_update()
        .select_related("coupon")
        .filter(
            Q(subscription_id=subscription_id) | Q(subscription_id="", customer_id=customer_id),
            active=True,
        )
    )
    on_subscription = next((d for d in active if d.subscription_id), None)
    on_account = next((d for d in active if not d.subscription_id), None)
    try:
        total = combine(
            subtotal=amount,
            subscription=coupon_terms(on_subscription.coupon) if on_subscription else None,
            account=coupon_terms(on_account.coupon) if on_account else None,
        )
    except CurrencyNotSupported:
        total = Money(0, amount.currency)
    for used in (d for d in (on_subscription, on_account) if d is not None):
        if used.cycles_remaining is not None:
            Discount.objects.filter(pk=used.pk).update(
                cycles_remaining=F("cycles_remaining") - 1,
                active=Case(When(cycles_remaining__gt=1, then=Value(True)), default=Value(False)),
            )
    return total


def discount_preview(*, coupon: Coupon, amount: Money) -> Money:
    terms = coupon_terms(coupon)
    return discount_for(terms=terms, subtotal=amount) if terms else Money(0, amount.currency)


# --- The customer's routes ----------------------------------------------------------------------


def _refused_on(param: str, refused: CouponRefused) -> CouponRefused:
    return CouponRefused(refused.message, code=refused.code, param=param)


def coupon_redeem_on_account(*, customer, code: object) -> Redemption:
    """`POST /me/coupons/redeem`: an account-level coupon for every invoice of the customer while it
    lasts. Refusals carry `param: "code"`; a free trial (which only sets a signup's trial) is not
    applicable here."""
    try:
        found = coupon_find(code=code)
        if found.coupon.discount_type == Coupon.DiscountType.FREE_TRIAL:
            raise CouponRefused(
                "A free-trial coupon is used at checkout.", code="coupon_not_applicable", param="coupon_code"
            )
        return coupon_redeem(code=code, customer=customer, target="account", currency=customer.currency)
    except CouponRefused as refused:
        raise _refused_on("code", refused) from None
