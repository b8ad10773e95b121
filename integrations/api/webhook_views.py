"""The webhook routes (API.md "Webhook endpoints"): writes need the `webhooks:write` scope."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.webhook_serializers import (
    RedeliveredSerializer,
    RedeliverSerializer,
    WebhookDeliveryFilters,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
    WebhookSecretSerializer,
)
from integrations.kernel.api.parsing import validated_data, validated_query
from integrations.kernel.api.schema import error_response
from integrations.kernel.errors import NotFound
from integrations.models import Event
from integrations.webhooks import selectors, services
from integrations.webhooks.representations import webhook_delivery_repr, webhook_endpoint_repr

_BAD_INPUT = error_response(
    "parameter_invalid (or parameter_missing) naming the field; url_not_allowed: the URL resolves to a "
    "private, loopback, link-local or reserved address."
)


class WebhookEndpointListCreateView(generics.ListAPIView):
    write_scope = "webhooks:write"
    serializer_class = WebhookEndpointSerializer

    def get_queryset(self):
        return selectors.webhook_endpoint_list()

    @extend_schema(summary="Webhook endpoints, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer, 400: _BAD_INPUT},
        summary="Add a webhook endpoint (the answer carries its secret, shown this once)",
    )
    def post(self, request):
        secret, endpoint = services.webhook_endpoint_create(**validated_data(WebhookEndpointCreateSerializer, request))
        return Response({**webhook_endpoint_repr(endpoint), "secret": secret}, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(APIView):
    write_scope = "webhooks:write"

    @extend_schema(responses=WebhookEndpointSerializer, summary="Read a webhook endpoint")
    def get(self, request, endpoint_id: str):
        return Response(WebhookEndpointSerializer(selectors.webhook_endpoint_get(endpoint_id=endpoint_id)).data)

    @extend_schema(
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, 400: _BAD_INPUT},
        summary="Change an endpoint's URL, events, description or status (enabled resumes its deliveries)",
    )
    def patch(self, request, endpoint_id: str):
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
        changes = validated_data(WebhookEndpointUpdateSerializer, request)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, **changes)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None}, summary="Delete an endpoint (what was queued for it is not sent)")
    def delete(self, request, endpoint_id: str):
        services.webhook_endpoint_delete(endpoint=selectors.webhook_endpoint_get(endpoint_id=endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretView(APIView):
    write_scope = "webhooks:write"

    @extend_schema(
        request=None,
        responses={200: WebhookSecretSerializer},
        summary="A new secret; the old one keeps signing beside it for 24 hours",
    )
    def post(self, request, endpoint_id: str):
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
        return Response({"secret": services.webhook_endpoint_rotate_secret(endpoint=endpoint)})


class WebhookDeliveryListView(generics.ListAPIView):
    serializer_class = WebhookDeliverySerializer

    @extend_schema(parameters=[WebhookDeliveryFilters], summary="An endpoint's deliveries, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        endpoint = selectors.webhook_endpoint_get(endpoint_id=self.kwargs["endpoint_id"])
        params = validated_query(WebhookDeliveryFilters, self.request)
        return selectors.webhook_delivery_list(endpoint=endpoint, status=params.get("status"))


class EventRedeliverView(APIView):
    write_scope = "webhooks:write"

    @extend_schema(
        request=RedeliverSerializer,
        responses={202: RedeliveredSerializer, 409: error_response("webhook_endpoint_disabled, no_webhook_endpoint")},
        summary="Send an event again (same webhook-id), to one endpoint or all it was meant for",
    )
    def post(self, request, event_id: str):
        event = Event.objects.filter(pk=event_id).first()
        if event is None:
            raise NotFound("No such event.")
        params = validated_data(RedeliverSerializer, request)
        endpoint = None
        if params.get("endpoint"):
            endpoint = selectors.webhook_endpoint_get(endpoint_id=params["endpoint"])
        deliveries = services.webhook_event_redeliver(event=event, endpoint=endpoint)
        return Response(
            {"event": event.id, "deliveries": [webhook_delivery_repr(d) for d in deliveries]},
            status=status.HTTP_202_ACCEPTED,
        )
