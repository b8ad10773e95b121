from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.parsing import validated_data
from payments import selectors, services
from payments.api.serializers import (
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerTokenCreateSerializer,
    CustomerTokenSerializer,
    CustomerUpdateSerializer,
)


class CustomerListCreateView(generics.ListAPIView):
    serializer_class = CustomerSerializer

    @extend_schema(
        parameters=[OpenApiParameter("external_id", str), OpenApiParameter("email", str)],
        summary="List or look up customers",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return selectors.customer_list(external_id=params.get("external_id"), email=params.get("email"))

    @extend_schema(request=CustomerCreateSerializer, responses={201: CustomerSerializer}, summary="Create a customer")
    def post(self, request):
        customer = services.customer_create(**validated_data(CustomerCreateSerializer, request))
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailView(APIView):
    @extend_schema(responses=CustomerSerializer, summary="Read a customer")
    def get(self, request, customer_id: str):
        return Response(CustomerSerializer(selectors.customer_get(customer_id=customer_id)).data)

    @extend_schema(request=CustomerUpdateSerializer, responses=CustomerSerializer, summary="Edit a customer")
    def patch(self, request, customer_id: str):
        customer = selectors.customer_get(customer_id=customer_id)
        changes = validated_data(CustomerUpdateSerializer, request)
        return Response(CustomerSerializer(services.customer_update(customer=customer, **changes)).data)


class CustomerTokenCreateView(APIView):
    @extend_schema(
        request=CustomerTokenCreateSerializer,
        responses={201: CustomerTokenSerializer},
        summary="Mint a customer token (one hour by default)",
    )
    def post(self, request, customer_id: str):
        customer = selectors.customer_get(customer_id=customer_id)
        data = validated_data(CustomerTokenCreateSerializer, request)
        raw, token = services.customer_token_create(customer=customer, ttl_seconds=data.get("ttl_seconds"))
        body = {"token": raw, "expires_at": token.expires_at, "customer": customer.id}
        return Response(CustomerTokenSerializer(body).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    audience = "customer"

    @extend_schema(responses=CustomerSerializer, summary="The customer behind the token")
    def get(self, request):
        return Response(CustomerSerializer(request.user.customer).data)
