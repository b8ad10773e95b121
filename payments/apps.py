from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.core import checks

        from integrations.kernel.api.authentication import credential_resolver_register
        from integrations.kernel.audit import audit_track
        from payments.models import (
            CreditNote,
            Customer,
            ExchangeRate,
            GatewayAccount,
            Invoice,
            Payment,
            PaymentMethod,
            Payout,
            Refund,
        )
        from payments.selectors import customer_token_resolve
        from payments.services import CUSTOMER_TOKEN_PREFIX
        from payments.tax.checks import check_tax_seller_country
        from payments.tax.models import TaxRate, TaxRegistration

        credential_resolver_register(CUSTOMER_TOKEN_PREFIX, customer_token_resolve)
        # Operators' changes to these are audited (tokens and attempts are not: purged in bulk, or noise).
        for model in (GatewayAccount, PaymentMethod, Payment, Refund, Payout, CreditNote):
            audit_track(model)
        # An invoice keeps its business buyer's name and VAT id (the law asks it): recorded as changed, not their values.
        audit_track(Invoice, personal=["buyer_business_name", "buyer_tax_id"])
        # Erasure leaves none of it here. A company's VAT id is not personal data, but a sole trader's
        # is (and the business name is often their own name): both are recorded as changed, never
        # their values; the status, the id's country and when it was verified are recorded as they are.
        audit_track(Customer, personal=["email", "name", "external_id", "tax_id", "business_name", "billing_address"])
        # Tax regions (payments/tax/): registrations and rate rows are operators' changes too.
        audit_track(TaxRegistration)
        audit_track(TaxRate)
        audit_track(ExchangeRate)  # the metrics' conversions: finance's edits are recorded
        checks.register(check_tax_seller_country)
        post_migrate.connect(_invoice_guard_install, sender=self)


def _invoice_guard_install(sender, using="default", **kwargs):
    """The invoices' adds-up check, also where the tables were made without migrations (the tests)."""
    from django.db import connections

    from payments.invoice_guard import invoice_guard_install

    invoice_guard_install(connections[using])
