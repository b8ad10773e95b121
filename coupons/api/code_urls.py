from django.urls import path

from coupons.api import code_views

urlpatterns = [
    path("coupons/<str:coupon_id>/codes", code_views.CouponCodesView.as_view(), name="coupon-codes"),
    path(
        "coupons/<str:coupon_id>/code-generations/<str:generation_id>",
        code_views.CodeGenerationDetailView.as_view(),
        name="coupon-code-generation",
    ),
]
