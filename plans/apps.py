from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "plans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from payments import hooks
        from plans import services

        hooks.register("invoice_paid", services.access_on_invoice_paid)
        hooks.register("invoice_payment_failed", services.access_on_invoice_payment_failed)
        hooks.register("payment_refunded", services.access_on_payment_refunded)
