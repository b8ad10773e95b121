from django.urls import path

from coupons.api import views

urlpatterns = [
    path("coupons", views.CouponListCreateView.as_view(), name="coupon-list"),
    path("coupons/<str:coupon_id>", views.CouponDetailView.as_view(), name="coupon-detail"),
    path("coupons/<str:coupon_id>/expire", views.CouponExpireView.as_view(), name="coupon-expire"),
    path("coupons/<str:coupon_id>/restore", views.CouponRestoreView.as_view(), name="coupon-restore"),
    path("me/coupons/redeem", views.MeCouponRedeemView.as_view(), name="me-coupon-redeem"),
]
