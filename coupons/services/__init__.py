"""Coupons' writes, one module per concern (campaigns, code generation, redemption, discounts),
re-exported here."""

from coupons.services.attempts import CodeAttempt
from coupons.services.campaigns import (
    CODE_ALPHABET,
    EDITABLE_FIELDS,
    MIN_RANDOM_POSITIONS,
    TERM_FIELDS,
    code_from_template,
    code_template_normalize,
    coupon_create,
    coupon_expire,
    coupon_restore,
    coupon_update,
    coupons_expire_due,
    normalize_code,
    plan_ids_checker_register,
)
from coupons.services.discounts import coupon_terms, discount_for_invoice, discount_preview
from coupons.services.redemption import (
    CouponRefused,
    Found,
    coupon_check,
    coupon_find,
    coupon_redeem,
    coupon_redeem_on_account,
    redemptions_release,
    trial_override_for,
)

__all__ = [
    "CODE_ALPHABET",
    "EDITABLE_FIELDS",
    "MIN_RANDOM_POSITIONS",
    "TERM_FIELDS",
    "CodeAttempt",
    "CouponRefused",
    "Found",
    "code_from_template",
    "code_template_normalize",
    "coupon_check",
    "coupon_create",
    "coupon_expire",
    "coupon_find",
    "coupon_redeem",
    "coupon_redeem_on_account",
    "coupon_restore",
    "coupon_terms",
    "coupon_update",
    "coupons_expire_due",
    "discount_for_invoice",
    "discount_preview",
    "normalize_code",
    "plan_ids_checker_register",
    "redemptions_release",
    "trial_override_for",
]
