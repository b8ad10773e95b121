"""Xero (accounting): a contact per paying customer, an ACCREC invoice for each paid invoice with its
lines, tax types and account codes, the payment against it, and for a refund an ACCRECCREDIT credit
note with the refunded share of the lines, allocated to the invoice for what it still owes and
paid out (a cash refund) for the rest. OAuth2 with rotating refresh tokens and the tenant header.

A small typed client on httpx rather than the xero-python SDK (read at 15.2.0): its token URL is a
class attribute fixed to identity.xero.com, it sends the client secret in the form body where we
use Basic auth, its models type every amount as float, and a failed refresh raises a bare
Exception carrying the response headers. Five plain JSON calls, with 401 and 429/Retry-After in our
own hands, are less than adapting it.

The operator maps our lines to Xero: an AccountCode per plan code (with a default), a TaxType per
tax case (tax status, country, rate; with a default) and the bank/clearing account code that
payments and refunds go through (`xero_settings_update`, the admin's Xero mapping screen)."""

from integrations.connectors.xero.client import DEFAULT_BASE_URL, DEFAULT_TOKEN_URL, XeroClient, xero_json
from integrations.connectors.xero.handler import XeroHandler, contact_body
from integrations.connectors.xero.mapping import (
    TAX_STATUSES,
    TaxRule,
    XeroMapping,
    settings_check,
    xero_settings_update,
    xero_settings_validate,
)
from integrations.connectors.xero.tokens import Tokens, XeroTokenStore

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TOKEN_URL",
    "TAX_STATUSES",
    "TaxRule",
    "Tokens",
    "XeroClient",
    "XeroHandler",
    "XeroMapping",
    "XeroTokenStore",
    "contact_body",
    "settings_check",
    "xero_json",
    "xero_settings_update",
    "xero_settings_validate",
]
