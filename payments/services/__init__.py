"""Payments' writes, one module per aggregate; everything is re-exported here so callers import
`from payments.services import ...` whichever module a service lives in."""

from payments.services.batch import (
    InvoiceSpec,
    invoices_issue_batch,
    payments_charge_batch,
    payments_settle_batch,
    payments_start_batch,
)
from payments.services.charges import (
    OPEN_PAYMENT_STATUSES,
    invoice_pay,
    payment_apply_result,
    payment_cancel,
    payment_retry,
    payment_sync,
    payment_sync_by_reference,
    payments_mark_succeeded,
    payments_reconcile,
)
from payments.services.customers import (
    CUSTOMER_TOKEN_PREFIX,
    customer_create,
    customer_token_create,
    customer_tokens_purge,
    customer_tokens_revoke,
    customer_update,
)
from payments.services.data_protection import (
    customer_anonymise,
    gateway_cards_release,
    gateway_cards_release_pending,
)
from payments.services.gateway_accounts import gateway_account_create, gateway_account_update
from payments.services.invoices import (
    LineSpec,
    TaxTerms,
    invoice_create,
    invoice_finalize,
    invoice_mark_paid,
    invoice_mark_uncollectible,
    invoice_next_attempt_plan,
    invoice_numbers_reserve,
    invoice_tax_evidence_review,
    invoice_void,
    invoices_mark_paid,
)
from payments.services.payment_methods import (
    gateway_account_check,
    gateway_customer_reference,
    payment_method_attach,
    payment_method_detach,
    payment_method_set_default,
    payment_method_setup,
)
from payments.services.refunds import payment_refund, refund_apply_result, refund_sync, refunds_reconcile
from payments.services.settlement import payment_fee_record, payout_record, payouts_create_sandbox
from payments.services.tax_ids import customer_tax_id_verify, customer_tax_ids_recheck
from payments.services.webhooks import gateway_webhook_receive

__all__ = [
    "CUSTOMER_TOKEN_PREFIX",
    "OPEN_PAYMENT_STATUSES",
    "InvoiceSpec",
    "LineSpec",
    "TaxTerms",
    "customer_anonymise",
    "customer_create",
    "customer_tax_id_verify",
    "customer_tax_ids_recheck",
    "customer_token_create",
    "customer_tokens_purge",
    "customer_tokens_revoke",
    "customer_update",
    "gateway_account_check",
    "gateway_account_create",
    "gateway_account_update",
    "gateway_cards_release",
    "gateway_cards_release_pending",
    "gateway_customer_reference",
    "gateway_webhook_receive",
    "invoice_create",
    "invoice_finalize",
    "invoice_mark_paid",
    "invoice_mark_uncollectible",
    "invoice_next_attempt_plan",
    "invoice_numbers_reserve",
    "invoice_pay",
    "invoice_tax_evidence_review",
    "invoice_void",
    "invoices_issue_batch",
    "invoices_mark_paid",
    "payment_apply_result",
    "payment_cancel",
    "payment_fee_record",
    "payment_method_attach",
    "payment_method_detach",
    "payment_method_set_default",
    "payment_method_setup",
    "payment_refund",
    "payment_retry",
    "payment_sync",
    "payment_sync_by_reference",
    "payments_charge_batch",
    "payments_mark_succeeded",
    "payments_reconcile",
    "payments_settle_batch",
    "payments_start_batch",
    "payout_record",
    "payouts_create_sandbox",
    "refund_apply_result",
    "refund_sync",
    "refunds_reconcile",
]
