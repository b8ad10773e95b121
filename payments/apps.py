from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.core import checks

        from integrations.kernel.api.authentication import credential_resolver_register
        from integrations.kernel.audit import audit_track
        from payments.models import Customer, GatewayAccount, Invoice, Payment, PaymentMethod, Payout, Refund
        from payments.selectors import customer_token_resolve
        from payments.services import CUSTOMER_TOKEN_PREFIX
        from payments.tax.checks import check_tax_seller_country
        from payments.tax.models import TaxRate, TaxRegistration

        credential_resolver_register(CUSTOMER_TOKEN_PREFIX, customer_token_resolve)
        # Operators' changes to these are audited (tokens and attempts are not: purged in bulk, or noise).
        for model in (GatewayAccount, PaymentMethod, Invoice, Payment, Refund, Payout):
            audit_track(model)
        audit_track(Customer, personal=["email", "name", "external_id"])  # erasure leaves none of it here
        # Tax regions (payments/tax/): registrations and rate rows are operators' changes too.
        audit_track(TaxRegistration)
        audit_track(TaxRate)
        checks.register(check_tax_seller_country)
