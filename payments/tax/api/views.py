"""The tax routes (API.md "Tax"): registrations, read and written with an operator key (writes
need the `tax:write` scope), and the rates in force."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.kernel.api.pagination import ApiCursorPagination
from integrations.kernel.api.parsing import validated_data, validated_query
from integrations.kernel.api.schema import error_response
from payments.tax import selectors, services
from payments.tax.api.serializers import (
    TaxRateFilters,
    TaxRateSerializer,
    TaxRegistrationCreateSerializer,
    TaxRegistrationFilters,
    TaxRegistrationSerializer,
    TaxRegistrationUpdateSerializer,
)

_BAD_INPUT = error_response("parameter_invalid (or parameter_missing), `param` naming the field.")
_OVERLAP = error_response("tax_registration_overlaps: one of the same place and scheme covers part of the period.")


class TaxRegistrationListCreateView(generics.ListAPIView):
    write_scope = "tax:write"
    serializer_class = TaxRegistrationSerializer

    @extend_schema(parameters=[TaxRegistrationFilters], summary="Tax registrations, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.tax_registration_list(**validated_query(TaxRegistrationFilters, self.request))

    @extend_schema(
        request=TaxRegistrationCreateSerializer,
        responses={201: TaxRegistrationSerializer, 400: _BAD_INPUT, 409: _OVERLAP},
        summary="Register a region for tax (its customers are taxed from active_from)",
    )
    def post(self, request):
        registration = services.tax_registration_create(**validated_data(TaxRegistrationCreateSerializer, request))
        return Response(TaxRegistrationSerializer(registration).data, status=status.HTTP_201_CREATED)


class TaxRegistrationDetailView(APIView):
    write_scope = "tax:write"

    @extend_schema(responses=TaxRegistrationSerializer, summary="Read a tax registration")
    def get(self, request, registration_id: str):
        registration = selectors.tax_registration_get(registration_id=registration_id)
        return Response(TaxRegistrationSerializer(registration).data)

    @extend_schema(
        request=TaxRegistrationUpdateSerializer,
        responses={200: TaxRegistrationSerializer, 400: _BAD_INPUT, 409: _OVERLAP},
        summary="Change a registration's number or expiry (its start while it has not started)",
    )
    def patch(self, request, registration_id: str):
        registration = selectors.tax_registration_get(registration_id=registration_id)
        changes = validated_data(TaxRegistrationUpdateSerializer, request, partial=True)
        registration = services.tax_registration_update(registration=registration, **changes)
        return Response(TaxRegistrationSerializer(registration).data)


class TaxRatePagination(ApiCursorPagination):
    ordering = ("country", "subdivision", "category", "valid_from")
    page_size = 100


class TaxRateListView(generics.ListAPIView):
    serializer_class = TaxRateSerializer
    pagination_class = TaxRatePagination

    @extend_schema(
        parameters=[TaxRateFilters],
        summary="The tax rates in force today (or on `at`), by country, subdivision and category",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(TaxRateFilters, self.request)
        return selectors.tax_rates_in_force(
            at=params.get("at") or selectors.tax_today(),
            country=params.get("country"),
            subdivision=params.get("subdivision"),
            category=params.get("category"),
        )
