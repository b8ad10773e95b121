from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from integrations.kernel.api.authentication import credential_resolver_register
        from payments.selectors import customer_token_resolve
        from payments.services import CUSTOMER_TOKEN_PREFIX

        credential_resolver_register(CUSTOMER_TOKEN_PREFIX, customer_token_resolve)
