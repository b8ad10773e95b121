from django.urls import path

from payments.api import views

urlpatterns = [
    path("customers", views.CustomerListCreateView.as_view(), name="customer-list"),
    path("customers/<str:customer_id>", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("customers/<str:customer_id>/tokens", views.CustomerTokenCreateView.as_view(), name="customer-tokens"),
    path("me", views.MeView.as_view(), name="me"),
]
