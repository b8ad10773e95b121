"""A bulk campaign's codes over HTTP: generate (inline, or queued when large), list, export as CSV;
read a queued generation's progress."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from coupons.api.serializers import CodeGenerationQueuedSerializer, CodeGenerationSerializer
from coupons.models import CodeGeneration, Coupon, CouponCode
from coupons.selectors import code_generation_get
from coupons.services.generation import (
    MAX_CODES_PER_REQUEST,
    codes_export_rows,
    codes_request,
)
from integrations.kernel.api.pagination import ApiCursorPagination
from integrations.kernel.api.schema import error_response
from integrations.kernel.csv_export import csv_response
from integrations.kernel.errors import InvalidRequest, NotFound


def _coupon(coupon_id: str) -> Coupon:
    coupon = Coupon.objects.filter(pk=coupon_id).first()
    if coupon is None:
        raise NotFound(f"No coupon '{coupon_id}'.")
    return coupon


class CouponCodeSerializer(serializers.ModelSerializer):
    redeemed_by = serializers.CharField(source="redeemed_by_id", allow_null=True)
    subscription = serializers.SerializerMethodField()

    class Meta:
        model = CouponCode
        fields = ["id", "code", "state", "redeemed_by", "redeemed_at", "subscription"]

    def get_subscription(self, code: CouponCode) -> str | None:
        return code.subscription_id or None


class CodeCursorPagination(ApiCursorPagination):
    # A batch shares one created_at; ids are unique and time-ordered, so they page alone.
    ordering = ("-id",)


GENERATE_REQUEST = inline_serializer(
    "CouponCodesGenerateRequest", {"count": serializers.IntegerField(min_value=1, max_value=MAX_CODES_PER_REQUEST)}
)


class CouponCodesView(ListAPIView):
    write_scope = "coupons:write"
    idempotency_resumable = True  # a generation a killed run made is answered, not made again
    serializer_class = CouponCodeSerializer
    pagination_class = CodeCursorPagination

    def perform_content_negotiation(self, request, force=False):
        # `?format=csv` is this route's export, not DRF's format override: errors stay JSON.
        if request.query_params.get("format") == "csv":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    def get_queryset(self):
        return CouponCode.objects.filter(coupon=self.coupon)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv"], description="csv: stream every code as CSV")],
        summary="A bulk campaign's codes with their state (or all of them as CSV)",
    )
    def get(self, request, coupon_id: str):
        self.coupon = _coupon(coupon_id)
        if request.query_params.get("format") == "csv":
            return csv_response(codes_export_rows(coupon=self.coupon), filename=f"{self.coupon.id}-codes.csv")
        return self.list(request)

    @extend_schema(
        request=GENERATE_REQUEST,
        responses={
            201: inline_serializer("CouponCodesGenerated", {"generated": serializers.IntegerField()}),
            202: CodeGenerationQueuedSerializer,
            422: error_response(
                "coupon_not_bulk; code_template_exhausted: the template's space would be more than one code "
                "per million of its values full (count with every campaign on it and queued generations)."
            ),
        },
        summary="Generate unique codes for a bulk campaign (large counts run in the background)",
    )
    def post(self, request, coupon_id: str):
        coupon = _coupon(coupon_id)
        body = request.data if isinstance(request.data, dict) else {}
        if "count" not in body:
            raise InvalidRequest("count is required.", code="parameter_missing", param="count")
        made = codes_request(coupon=coupon, count=body["count"])
        if isinstance(made, CodeGeneration):
            return Response(CodeGenerationQueuedSerializer({"generation": made}).data, status=status.HTTP_202_ACCEPTED)
        return Response({"generated": made}, status=status.HTTP_201_CREATED)


class CodeGenerationDetailView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("generation_id", str, OpenApiParameter.PATH, description="The generation's id, cgn_...")
        ],
        responses={
            200: CodeGenerationSerializer,
            404: error_response("resource_missing: no such generation of this coupon."),
        },
        summary="A background code generation's progress (queued, running, succeeded or failed)",
    )
    def get(self, request, coupon_id: str, generation_id: str):
        return Response(
            CodeGenerationSerializer(code_generation_get(coupon_id=coupon_id, generation_id=generation_id)).data
        )
