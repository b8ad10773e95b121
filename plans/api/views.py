from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.parsing import validated_data
from payments.currency import country_currency, normalize_country
from plans import selectors, services
from plans.api.serializers import (
    CheckoutRequestSerializer,
    CheckoutSerializer,
    CustomerPlanSerializer,
    EntitlementsSerializer,
    PlanSerializer,
    PlanUpdateSerializer,
    PlanWriteSerializer,
)


def _service_terms(data: dict) -> dict:
    terms = dict(data)
    if "trial" in terms and terms["trial"] is not None:
        terms["trial"] = services.Trial(**terms["trial"])
    return terms


class PlanListCreateView(generics.ListAPIView):
    serializer_class = PlanSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["active", "archived"]),
            OpenApiParameter("kind", str),
            OpenApiParameter("code", str),
        ],
        summary="List plans",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return selectors.plan_list(status=params.get("status"), kind=params.get("kind"), code=params.get("code"))

    @extend_schema(request=PlanWriteSerializer, responses={201: PlanSerializer}, summary="Create a plan")
    def post(self, request):
        plan = services.plan_create(**_service_terms(validated_data(PlanWriteSerializer, request)))
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan.id)).data, status=status.HTTP_201_CREATED)


class PlanDetailView(APIView):
    @extend_schema(responses=PlanSerializer, summary="Read a plan")
    def get(self, request, plan_id: str):
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan_id)).data)

    @extend_schema(request=PlanUpdateSerializer, responses=PlanSerializer, summary="Edit a plan")
    def patch(self, request, plan_id: str):
        plan = selectors.plan_get(plan_id=plan_id)
        services.plan_update(plan=plan, **_service_terms(validated_data(PlanUpdateSerializer, request)))
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan_id)).data)


class PlanArchiveView(APIView):
    @extend_schema(request=None, responses=PlanSerializer, summary="Archive a plan (take it off sale)")
    def post(self, request, plan_id: str):
        services.plan_archive(plan=selectors.plan_get(plan_id=plan_id))
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan_id)).data)


class MePlanListView(generics.ListAPIView):
    audience = "customer"
    serializer_class = CustomerPlanSerializer

    @extend_schema(
        parameters=[OpenApiParameter("country", str, description="ISO 3166-1 alpha-2; default: the customer's.")],
        summary="Plans on sale, priced in the country's currency",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        country = self.request.query_params.get("country")
        customer = self.request.user.customer
        currency = country_currency(normalize_country(country)) if country else customer.currency
        return selectors.plan_list_for_sale(currency=currency)


class MeCheckoutView(APIView):
    audience = "customer"

    @extend_schema(
        request=CheckoutRequestSerializer,
        responses={201: CheckoutSerializer},
        summary="Buy a plan (one-off passes now; recurring plans with the subscriptions release)",
    )
    def post(self, request):
        data = validated_data(CheckoutRequestSerializer, request)
        result = services.checkout(
            customer=request.user.customer,
            plan_id=data["plan"],
            payment_method_id=data["payment_method"],
            coupon_code=data["coupon_code"],
            return_url=data["return_url"],
        )
        return Response(CheckoutSerializer(result).data, status=status.HTTP_201_CREATED)


class MeEntitlementsView(APIView):
    audience = "customer"

    @extend_schema(responses=EntitlementsSerializer, summary="What the customer may watch now")
    def get(self, request):
        entitlements = selectors.entitlement_list(customer=request.user.customer)
        body = {"entitled": bool(entitlements), "entitlements": entitlements}
        return Response(EntitlementsSerializer(body).data)
