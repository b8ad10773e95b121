from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "plans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from coupons.services import coupons_expire_due, discount_for_invoice
        from payments import hooks
        from plans import billing, services, subscriptions

        hooks.register("invoice_paid", services.access_on_invoice_paid)
        hooks.register("invoice_payment_failed", services.access_on_invoice_payment_failed)
        hooks.register("payment_refunded", services.access_on_payment_refunded)
        hooks.register("invoice_paid", subscriptions.subscription_on_invoice_paid)
        hooks.register("invoice_payment_failed", subscriptions.subscription_on_payment_failed)
        hooks.register("payment_method_detach_check", subscriptions.subscription_detach_check)
        hooks.register("payment_method_default_changed", subscriptions.subscriptions_on_new_default_card)
        if discount_for_invoice not in subscriptions.discount_hooks:
            subscriptions.discount_hooks.append(discount_for_invoice)
        if coupons_expire_due not in billing.billing_hooks:
            billing.billing_hooks.append(coupons_expire_due)
