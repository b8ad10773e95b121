from drf_spectacular.utils import extend_schema
from rest_framework import generics

from integrations.api.filters import EventFilters
from integrations.api.serializers import EventSerializer
from integrations.kernel.api.parsing import validated_query
from integrations.selectors import event_list


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
