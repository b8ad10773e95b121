from django.urls import path

from payments.gateways.sandbox import views as sandbox_views

urlpatterns = [
    path("tokens", sandbox_views.SandboxTokenView.as_view(), name="sandbox-tokens"),
    path("challenge/<str:charge_id>", sandbox_views.challenge, name="sandbox-challenge"),
]
