from django.urls import path

from integrations.api import views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="event-list"),
    path("audit-events", views.AuditEventListView.as_view(), name="audit-event-list"),
]
