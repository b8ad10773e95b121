"""Plans' writes, one module per concern: the catalogue, checkout, the transitions every path of a
subscription shares, renewal, dunning, changes, and the handlers payments calls. Everything is
re-exported here."""

from plans.services.catalogue import (
    EDITABLE_FIELDS,
    STRUCTURAL_FIELDS,
    Trial,
    plan_archive,
    plan_create,
    plan_delete,
    plan_prices_parse,
    plan_terms_validate,
    plan_update,
)
from plans.services.changes import (
    subscription_cancel,
    subscription_change_plan,
    subscription_extend,
    subscription_move_to_current_price,
    subscription_pause,
    subscription_resume,
    subscription_resume_paused,
)
from plans.services.checkout import CheckoutResult, checkout, coupon_preview, subscription_start
from plans.services.data_protection import customer_erase, customer_export
from plans.services.dunning import subscription_pay_now, subscription_retry_now
from plans.services.entitlements import entitlement_token
from plans.services.renewal import CLAIM_LEASE, period_invoice, renewals_advance, still_claimed, subscription_bill
from plans.services.subscriptions import subscription_create, subscription_end

__all__ = [
    "CLAIM_LEASE",
    "EDITABLE_FIELDS",
    "STRUCTURAL_FIELDS",
    "CheckoutResult",
    "Trial",
    "checkout",
    "coupon_preview",
    "customer_erase",
    "customer_export",
    "entitlement_token",
    "period_invoice",
    "plan_archive",
    "plan_create",
    "plan_delete",
    "plan_prices_parse",
    "plan_terms_validate",
    "plan_update",
    "renewals_advance",
    "still_claimed",
    "subscription_bill",
    "subscription_cancel",
    "subscription_change_plan",
    "subscription_create",
    "subscription_end",
    "subscription_extend",
    "subscription_move_to_current_price",
    "subscription_pause",
    "subscription_pay_now",
    "subscription_resume",
    "subscription_resume_paused",
    "subscription_retry_now",
    "subscription_start",
]
