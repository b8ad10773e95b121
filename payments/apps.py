from django.apps import AppConfig


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
        for model in (GatewayAccount, PaymentMethod, Invoice, Payment, Refund, Payout, CreditNote):
            audit_track(model)
        # Erasure leaves none of it here. A company's VAT id is not personal data, but a sole trader's
        # is (and the business name is often their own name): both are recorded as changed, never
        # their values; the status, the id's country and when it was verified are recorded as they are.
        audit_track(Customer, personal=["email", "name", "external_id", "tax_id", "business_name"])
        # Tax regions (payments/tax/): registrations and rate rows are operators' changes too.
        audit_track(TaxRegistration)
        audit_track(TaxRate)
        checks.register(check_tax_seller_country)
