from django.urls import path

from plans.api import views

urlpatterns = [
    path("plans", views.PlanListCreateView.as_view(), name="plan-list"),
    path("plans/<str:plan_id>", views.PlanDetailView.as_view(), name="plan-detail"),
    path("plans/<str:plan_id>/archive", views.PlanArchiveView.as_view(), name="plan-archive"),
    path("me/plans", views.MePlanListView.as_view(), name="me-plans"),
    path("me/checkout", views.MeCheckoutView.as_view(), name="me-checkout"),
    path("me/entitlements", views.MeEntitlementsView.as_view(), name="me-entitlements"),
]
