from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from mediamanager import staff_security_views, views
from payments import views as payment_views
from plans import views as plan_views

admin.site.site_header = "Media Manager Payments"
admin.site.site_title = "Media Manager Payments"
admin.site.index_title = "Billing back office"

api_v1 = [
    path("", views.ApiRootView.as_view(), name="api-root"),
    path("", include("plans.api.urls")),  # first: it holds the entitlement check (routes are tried in order)
    path("", include("payments.api.urls")),
    path("", include("payments.tax.api.urls")),
    path("", include("integrations.api.urls")),
    path("", include("coupons.api.urls")),
    path("", include("coupons.api.code_urls")),
]

urlpatterns = [
    # Passkey ceremonies of the staff sign-in (django-otp-webauthn's JSON endpoints, staff only).
    path("admin/sign-in/passkey/", include(staff_security_views.passkey_urls)),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
    path("api/v1/", include(api_v1)),
    path("sandbox/v1/", include("payments.gateways.sandbox.urls")),
    path("webhooks/gateways/<str:gateway_account_id>", payment_views.gateway_webhook, name="gateway-webhook"),
    path("gateways/return/<str:token>", payment_views.gateway_return, name="gateway-return"),
    path("billing/pay/<str:token>", plan_views.pay_now, name="pay-now"),
]
