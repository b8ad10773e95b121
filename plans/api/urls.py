from django.urls import path

from plans.api import metrics, views

urlpatterns = [
    # First: routes are tried in order, and this is the call every player makes.
    path("me/entitlements", views.MeEntitlementsView.as_view(), name="me-entitlements"),
    path("plans", views.PlanListCreateView.as_view(), name="plan-list"),
    path("plans/<str:plan_id>", views.PlanDetailView.as_view(), name="plan-detail"),
    path("plans/<str:plan_id>/archive", views.PlanArchiveView.as_view(), name="plan-archive"),
    path("me/plans", views.MePlanListView.as_view(), name="me-plans"),
    path("customers/<str:customer_id>/export", views.CustomerExportView.as_view(), name="customer-export"),
    path("customers/<str:customer_id>/erase", views.CustomerEraseView.as_view(), name="customer-erase"),
    path("me/checkout", views.MeCheckoutView.as_view(), name="me-checkout"),
    path("subscriptions", views.SubscriptionListView.as_view(), name="subscription-list"),
    path("subscriptions/<str:subscription_id>", views.SubscriptionDetailView.as_view(), name="subscription-detail"),
    path(
        "subscriptions/<str:subscription_id>/cancel", views.SubscriptionCancelView.as_view(), name="subscription-cancel"
    ),
    path("subscriptions/<str:subscription_id>/pause", views.SubscriptionPauseView.as_view(), name="subscription-pause"),
    path(
        "subscriptions/<str:subscription_id>/resume", views.SubscriptionResumeView.as_view(), name="subscription-resume"
    ),
    path(
        "subscriptions/<str:subscription_id>/extend", views.SubscriptionExtendView.as_view(), name="subscription-extend"
    ),
    path("me/subscriptions", views.MeSubscriptionListView.as_view(), name="me-subscriptions"),
    path("me/subscriptions/<str:subscription_id>", views.MeSubscriptionDetailView.as_view(), name="me-subscription"),
    path(
        "me/subscriptions/<str:subscription_id>/cancel",
        views.MeSubscriptionCancelView.as_view(),
        name="me-subscription-cancel",
    ),
    path(
        "me/subscriptions/<str:subscription_id>/resume",
        views.MeSubscriptionResumeView.as_view(),
        name="me-subscription-resume",
    ),
    path(
        "me/subscriptions/<str:subscription_id>/change-plan",
        views.MeSubscriptionChangePlanView.as_view(),
        name="me-subscription-change-plan",
    ),
    path("me/coupons/validate", views.MeCouponValidateView.as_view(), name="me-coupon-validate"),
    path("metrics/summary", metrics.MetricsSummaryView.as_view(), name="metrics-summary"),
    path("metrics/mrr-movements", metrics.MrrMovementsView.as_view(), name="metrics-mrr-movements"),
    path("metrics/series", metrics.MetricsSeriesView.as_view(), name="metrics-series"),
    path("metrics/revenue", metrics.MetricsRevenueView.as_view(), name="metrics-revenue"),
    path("metrics/coupons", metrics.MetricsCouponsView.as_view(), name="metrics-coupons"),
]
