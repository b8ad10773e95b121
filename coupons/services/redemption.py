"""Redemption: a code found, every rule checked, and redeemed under lock (F() counters, unique constraints as the last word); given back when a purchase fails."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from coupons.models import Coupon, CouponCode, Discount, DiscountGiven, Redemption
from coupons.selectors import coupon_state
from coupons.services.attempts import CodeAttempt, code_attempt
from coupons.services.campaigns import _emit, normalize_code
from integrations.kernel import clock
from integrations.kernel.errors import InvalidRequest
from integrations.services import event_emit


class CouponRefused(InvalidRequest):
    """A code that cannot be used here; `code` is one of API.md's coupon error codes."""


@dataclass(frozen=True)
class Found:
    coupon: Coupon
    code: CouponCode


def coupon_find(*, code: object, attempt: CodeAttempt | None = None) -> Found:
    """The code's row, or CouponRefused coupon_not_found. `attempt`: a customer typing it, whose
    failed attempts are counted and limited (429 rate_limited once past the limit)."""
    with code_attempt(attempt):
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
        _redeemed_emit(coupon=coupon, redemption=redemption, customer_id=customer.id)
        if coupon_state(coupon) == "maxed_out":
            _emit(coupon, "maxed_out")
    return redemption


def _redeemed_emit(*, coupon: Coupon, redemption: Redemption, customer_id: str) -> None:
    """coupon.redeemed, in the redemption's transaction. Never the code: a bulk code is a secret
    that webhooks and connectors (Mailchimp's "coupon used" tag) have no use for."""
    event_emit(
        type="coupon.redeemed",
        payload={
            "coupon": {"id": coupon.id, "name": coupon.name},
            "redemption": {"id": redemption.public_id},
            "subscription": redemption.subscription_id or None,
        },
        customer_id=customer_id,
    )


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
        DiscountGiven.objects.filter(redemption=redemption).delete()  # on an invoice never paid
        redemption.delete()
        released += 1
    return released


def trial_override_for(coupon: Coupon) -> tuple[int, str] | None:
    """A free-trial coupon's trial (length, unit), which replaces the plan's."""
    if coupon.discount_type != Coupon.DiscountType.FREE_TRIAL:
        return None
    return coupon.trial_length, coupon.trial_unit


def _refused_on(param: str, refused: CouponRefused) -> CouponRefused:
    return CouponRefused(refused.message, code=refused.code, param=param)


def coupon_redeem_on_account(*, customer, code: object, address: str | None = None) -> Redemption:
    """`POST /me/coupons/redeem`: an account-level coupon for every invoice of the customer while it
    lasts. Refusals carry `param: "code"`; a free trial (which only sets a signup's trial) is not
    applicable here. Unknown codes count against the customer's and the `address`'s limits."""
    try:
        found = coupon_find(code=code, attempt=CodeAttempt(customer_id=customer.id, address=address))
        if found.coupon.discount_type == Coupon.DiscountType.FREE_TRIAL:
            raise CouponRefused(
                "A free-trial coupon is used at checkout.", code="coupon_not_applicable", param="coupon_code"
            )
        return coupon_redeem(code=code, customer=customer, target="account", currency=customer.currency)
    except CouponRefused as refused:
        raise _refused_on("code", refused) from None
