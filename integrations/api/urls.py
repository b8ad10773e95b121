from django.urls import path

from integrations.api import views, webhook_views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="event-list"),
    path("events/<str:event_id>/redeliver", webhook_views.EventRedeliverView.as_view(), name="event-redeliver"),
    path("audit-events", views.AuditEventListView.as_view(), name="audit-event-list"),
    path("webhook-endpoints", webhook_views.WebhookEndpointListCreateView.as_view(), name="webhook-endpoint-list"),
    path(
        "webhook-endpoints/<str:endpoint_id>",
        webhook_views.WebhookEndpointDetailView.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        webhook_views.WebhookEndpointRotateSecretView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/deliveries",
        webhook_views.WebhookDeliveryListView.as_view(),
        name="webhook-endpoint-deliveries",
    ),
]
