from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "plans"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from coupons.selectors import plan_choices_register
        from coupons.services import plan_ids_checker_register
        from integrations.kernel.audit import audit_track
        from payments import hooks as payment_hooks
        from plans import selectors
        from plans.models import Plan, PlanPrice, Subscription
        from plans.services import dunning, hooks

        for model in (Plan, PlanPrice, Subscription):  # the audit log records operators' changes to them
            audit_track(model)

        payment_hooks.register("invoices_paid", hooks.on_invoices_paid)
        payment_hooks.register("invoice_payment_failed", hooks.on_invoice_payment_failed)
        payment_hooks.register("payment_refunded", hooks.on_payment_refunded)
        payment_hooks.register("payment_method_detach_check", hooks.on_payment_method_detach)
        payment_hooks.register("payment_method_default_changed", dunning.subscriptions_on_new_default_card)
        plan_ids_checker_register(selectors.plan_ids_existing)
        plan_choices_register(selectors.plan_choices_for_coupons)
