from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics

from integrations.api.serializers import EventSerializer
from integrations.selectors import event_list


class EventListView(generics.ListAPIView):
    serializer_class = EventSerializer

    @extend_schema(
        parameters=[OpenApiParameter("type", str), OpenApiParameter("customer", str)],
        summary="The event log, newest first",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return event_list(type=params.get("type"), customer_id=params.get("customer"))
