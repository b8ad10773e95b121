"""The tax routes (API.md "Tax"): registrations, read and written with an operator key (writes
need the `tax:write` scope), the rates in force, and the tax report (JSON or CSV)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.kernel.api.pagination import ApiCursorPagination
from integrations.kernel.api.parsing import validated_data, validated_query
from integrations.kernel.api.schema import error_response
from integrations.kernel.csv_export import csv_response
from integrations.kernel.errors import InvalidRequest
from payments.tax import selectors, services
from payments.tax.api.serializers import (
    TaxRateFilters,
    TaxRateSerializer,
    TaxRegistrationCreateSerializer,
    TaxRegistrationFilters,
    TaxRegistrationSerializer,
    TaxRegistrationUpdateSerializer,
    TaxReportSerializer,
)
from payments.tax.report import tax_report, tax_report_table

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


_REPORT_FORMATS = ("json", "csv")


class TaxReportView(APIView):
    """The figures of a tax return: GET only, so the `read` scope reaches it."""

    def perform_content_negotiation(self, request, force=False):
        # `?format=csv` is this route's export, not DRF's format override: errors stay JSON.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="The first day (UTC), YYYY-MM-DD."),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True, description="The last day (UTC), included."),
            OpenApiParameter(
                "format",
                str,
                enum=list(_REPORT_FORMATS),
                description="csv: the rows as text/csv with a header row, amounts as plain decimals.",
            ),
        ],
        responses={
            (200, "application/json"): TaxReportSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The rows as CSV, with a header row."),
            400: _BAD_INPUT,
        },
        summary="Taxable amounts and tax per country, rate and currency over a period, credit notes netted",
        description="Invoices paid in the period (by the day they were paid) that collected tax or were "
        "reverse-charged; credit notes issued in the period on such invoices, by their lines' rates.",
    )
    def get(self, request):
        params = request.query_params
        fmt = params.get("format") or "json"
        if fmt not in _REPORT_FORMATS:
            raise InvalidRequest("format is json or csv.", code="parameter_invalid", param="format")
        report = tax_report(date_from=params.get("from"), date_to=params.get("to"))
        if fmt == "csv":
            name = f"tax-report-{report.date_from.isoformat()}-{report.date_to.isoformat()}.csv"
            return csv_response(tax_report_table(report), filename=name)
        return Response(TaxReportSerializer(report).data)
