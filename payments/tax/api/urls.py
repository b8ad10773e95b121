from django.urls import path

from payments.tax.api import views

urlpatterns = [
    path("tax/registrations", views.TaxRegistrationListCreateView.as_view(), name="tax-registration-list"),
    path(
        "tax/registrations/<str:registration_id>",
        views.TaxRegistrationDetailView.as_view(),
        name="tax-registration-detail",
    ),
    path("tax/rates", views.TaxRateListView.as_view(), name="tax-rate-list"),
    path("tax/report", views.TaxReportView.as_view(), name="tax-report"),
]
