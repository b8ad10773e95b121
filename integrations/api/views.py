from drf_spectacular.utils import extend_schema
from rest_framework import generics

from integrations.api.filters import AuditEventFilters, EventFilters
from integrations.api.serializers import AuditEventSerializer, EventSerializer
from integrations.kernel.api.pagination import ApiCursorPagination
from integrations.kernel.api.parsing import validated_query
from integrations.kernel.api.schema import error_response
from integrations.selectors import audit_event_list, event_list


class EventListView(generics.ListAPIView):
    serializer_class = EventSerializer

    @extend_schema(
        parameters=[EventFilters],
        summary="The event log, newest first",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(EventFilters, self.request)
        return event_list(type=params.get("type"), customer_id=params.get("customer"))


class AuditCursorPagination(ApiCursorPagination):
    ordering = ("-at", "-id")


class AuditEventListView(generics.ListAPIView):
    """Every change an operator made (admin, API, manage.py) and every staff sign-in, newest first."""

    serializer_class = AuditEventSerializer
    pagination_class = AuditCursorPagination
    read_scope = "audit:read"

    @extend_schema(
        parameters=[AuditEventFilters],
        summary="The audit log, newest first (scope audit:read)",
        responses={200: AuditEventSerializer(many=True), 403: error_response("The key lacks `audit:read`.")},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(AuditEventFilters, self.request)
        return audit_event_list(
            actor=params.get("actor"),
            action=params.get("action"),
            object_id=params.get("object"),
            at_from=params.get("from"),
            at_to=params.get("to"),
        )
