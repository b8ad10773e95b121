"""The Django admin's payment screens, one module per aggregate. Everything that writes goes through
`payments.services`; secrets are write-only and cards show as brand and last four only."""

from payments.admin import customers, evidence_review, gateway_accounts, invoices, payments  # noqa: F401  (registers the screens)
from payments.fx import admin as fx_admin  # noqa: F401  (exchange rates)
from payments.tax import admin as tax_admin  # noqa: F401  (registrations and rates)
