from django.apps import AppConfig


class CouponsConfig(AppConfig):
    name = "coupons"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from coupons.models import CodeGeneration, Coupon, CouponAmount, CouponCode, Discount
        from integrations.kernel.audit import audit_track

        for model in (Coupon, CouponAmount, CodeGeneration, Discount):  # operators' changes are audited
            audit_track(model)
        # A code is a bearer value: entries name it by id. A campaign's codes go in bulk: no delete hook.
        audit_track(CouponCode, exclude=["code"], deletes=False)
