from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from coupons import services
from coupons.api.serializers import (
    CouponCreateSerializer,
    CouponRedeemRequestSerializer,
    CouponRedemptionSerializer,
    CouponRestoreSerializer,
    CouponSerializer,
    CouponUpdateSerializer,
)
from coupons.models import Coupon
from coupons.services.attempts import CODE_ATTEMPTS_LIMITED
from integrations.kernel.api.addresses import client_address
from integrations.kernel.api.parsing import validated_data
from integrations.kernel.api.schema import RETRY_AFTER, error_response
from integrations.kernel.errors import NotFound


def _coupon(coupon_id: str) -> Coupon:
    coupon = Coupon.objects.filter(pk=coupon_id).first()
    if coupon is None:
        raise NotFound(f"No coupon '{coupon_id}'.")
    return coupon


def _coupon_response(coupon: Coupon, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(CouponSerializer(_coupon(coupon.pk)).data, status=status_code)


class CouponListCreateView(generics.ListAPIView):
    write_scope = "coupons:write"
    serializer_class = CouponSerializer
    queryset = Coupon.objects.all()

    @extend_schema(summary="Coupon campaigns, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=CouponCreateSerializer, responses={201: CouponSerializer}, summary="Create a campaign")
    def post(self, request):
        coupon = services.coupon_create(**validated_data(CouponCreateSerializer, request))
        return _coupon_response(coupon, status.HTTP_201_CREATED)


class CouponDetailView(APIView):
    write_scope = "coupons:write"

    @extend_schema(responses=CouponSerializer, summary="Read a campaign")
    def get(self, request, coupon_id: str):
        return _coupon_response(_coupon(coupon_id))

    @extend_schema(
        request=CouponUpdateSerializer,
        responses=CouponSerializer,
        summary="Edit a campaign (discount terms locked once redeemed)",
    )
    def patch(self, request, coupon_id: str):
        coupon = _coupon(coupon_id)
        changes = validated_data(CouponUpdateSerializer, request, partial=True)
        return _coupon_response(services.coupon_update(coupon=coupon, **changes))


class CouponExpireView(APIView):
    write_scope = "coupons:write"

    @extend_schema(request=None, responses=CouponSerializer, summary="End a campaign now")
    def post(self, request, coupon_id: str):
        return _coupon_response(services.coupon_expire(coupon=_coupon(coupon_id)))


class CouponRestoreView(APIView):
    write_scope = "coupons:write"

    @extend_schema(
        request=CouponRestoreSerializer,
        responses=CouponSerializer,
        summary="Bring an expired campaign back (a new redeem_by where the old one has passed)",
    )
    def post(self, request, coupon_id: str):
        coupon = _coupon(coupon_id)
        data = validated_data(CouponRestoreSerializer, request)
        return _coupon_response(services.coupon_restore(coupon=coupon, redeem_by=data["redeem_by"]))


class MeCouponRedeemView(APIView):
    audience = "customer"

    @extend_schema(
        request=CouponRedeemRequestSerializer,
        responses={
            201: CouponRedemptionSerializer,
            400: error_response("A coupon error code (coupon_not_found, coupon_expired, ...)."),
            429: error_response(CODE_ATTEMPTS_LIMITED),
        },
        parameters=[RETRY_AFTER],
        summary="Apply an account-level coupon to the customer",
    )
    def post(self, request):
        data = validated_data(CouponRedeemRequestSerializer, request)
        redemption = services.coupon_redeem_on_account(
            customer=request.user.customer, code=data["code"], address=client_address(request)
        )
        body = {"coupon": _coupon(redemption.coupon_id), "discount": redemption.discount}
        return Response(CouponRedemptionSerializer(body).data, status=status.HTTP_201_CREATED)
