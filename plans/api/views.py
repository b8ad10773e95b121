from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from coupons.api.serializers import CouponValidateRequestSerializer, CouponValidationSerializer
from coupons.services.attempts import CODE_ATTEMPTS_LIMITED
from integrations.kernel.api.addresses import client_address
from integrations.kernel.api.authentication import bearer_from_header, credential_hash
from integrations.kernel.api.parsing import validated_data, validated_query
from integrations.kernel.api.schema import RETRY_AFTER, error_response
from integrations.kernel.errors import InvalidRequest
from payments.currency import country_currency, normalize_country
from payments.selectors import customer_get
from payments.services import CUSTOMER_TOKEN_PREFIX
from plans import selectors, services
from plans.api.filters import PlanFilters, SubscriptionFilters
from plans.api.serializers import (
    ChangePlanSerializer,
    CheckoutRequestSerializer,
    CheckoutSerializer,
    CustomerErasureSerializer,
    CustomerPlanSerializer,
    EntitlementsSerializer,
    ExtendSerializer,
    PlanSerializer,
    PlanUpdateSerializer,
    PlanWriteSerializer,
    SubscriptionCancelSerializer,
    SubscriptionCreateSerializer,
    SubscriptionSerializer,
)
from plans.models import Plan


def _service_terms(data: dict) -> dict:
    terms = dict(data)
    if "trial" in terms and terms["trial"] is not None:
        terms["trial"] = services.Trial(**terms["trial"])
    return terms


class PlanListCreateView(generics.ListAPIView):
    write_scope = "plans:write"
    serializer_class = PlanSerializer

    @extend_schema(
        parameters=[PlanFilters],
        summary="List plans",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.plan_list(**validated_query(PlanFilters, self.request))

    @extend_schema(request=PlanWriteSerializer, responses={201: PlanSerializer}, summary="Create a plan")
    def post(self, request):
        plan = services.plan_create(**_service_terms(validated_data(PlanWriteSerializer, request)))
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan.id)).data, status=status.HTTP_201_CREATED)


class PlanDetailView(APIView):
    write_scope = "plans:write"

    @extend_schema(responses=PlanSerializer, summary="Read a plan")
    def get(self, request, plan_id: str):
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan_id)).data)

    @extend_schema(request=PlanUpdateSerializer, responses=PlanSerializer, summary="Edit a plan")
    def patch(self, request, plan_id: str):
        plan = selectors.plan_get(plan_id=plan_id)
        services.plan_update(plan=plan, **_service_terms(validated_data(PlanUpdateSerializer, request)))
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan_id)).data)


class PlanArchiveView(APIView):
    write_scope = "plans:write"

    @extend_schema(request=None, responses=PlanSerializer, summary="Archive a plan (take it off sale)")
    def post(self, request, plan_id: str):
        services.plan_archive(plan=selectors.plan_get(plan_id=plan_id))
        return Response(PlanSerializer(selectors.plan_get(plan_id=plan_id)).data)


class MePlanListView(generics.ListAPIView):
    audience = "customer"
    serializer_class = CustomerPlanSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "country",
                str,
                description="ISO 3166-1 alpha-2; default: the customer's. Prices in its currency, taxed as there "
                "(the customer's subdivision counts only in their own country).",
            )
        ],
        summary="Plans on sale, priced in the country's currency and as charged to this customer",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        country = self.request.query_params.get("country")
        customer = self.request.user.customer
        currency = country_currency(normalize_country(country)) if country else customer.currency
        return selectors.plan_list_for_sale(currency=currency)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        priced = selectors.plans_priced_for(
            customer=request.user.customer, plans=page, country=request.query_params.get("country")
        )
        return self.get_paginated_response(self.get_serializer(priced, many=True).data)


class MeCheckoutView(APIView):
    audience = "customer"
    idempotency_resumable = True  # checkout resumes the purchase a killed run made (services.checkout)

    @extend_schema(
        request=CheckoutRequestSerializer,
        responses={201: CheckoutSerializer, 429: error_response(CODE_ATTEMPTS_LIMITED)},
        parameters=[RETRY_AFTER],
        summary="Buy a plan: a subscription for a recurring plan, a pass for a one-off plan",
    )
    def post(self, request):
        data = validated_data(CheckoutRequestSerializer, request)
        result = services.checkout(
            customer=request.user.customer,
            plan_id=data["plan"],
            payment_method_id=data["payment_method"],
            coupon_code=data["coupon_code"],
            return_url=data["return_url"],
            address=client_address(request),
            ip_country=data["ip_country"] or "",
        )
        return Response(CheckoutSerializer(result).data, status=status.HTTP_201_CREATED)


class MeEntitlementsView(APIView):
    """The call every player makes at start-up and many every few minutes. A live customer token
    within its request budget is answered on a lean path: the token's test and the entitlements in
    one statement (`entitlements_by_customer_token`: one round trip), the same throttle as DRF's,
    the body built directly (the same fields and formats as the serializer).
    Anything else (no token, a bad one, an operator key, over budget, not a GET) takes DRF's path,
    so every refusal is the one the API always gives."""

    audience = "customer"
    _datetime = serializers.DateTimeField()

    def dispatch(self, request, *args, **kwargs):
        lean = self._lean(request)
        return lean if lean is not None else super().dispatch(request, *args, **kwargs)

    def _lean(self, request):
        if request.method != "GET":
            return None
        raw = bearer_from_header(request.META.get("HTTP_AUTHORIZATION"))
        if not raw or not raw.startswith(CUSTOMER_TOKEN_PREFIX):
            return None
        found = selectors.entitlements_by_customer_token(token_hash=credential_hash(raw))
        if found is None or not all(throttle().allow_request(request, self) for throttle in self.throttle_classes):
            return None
        customer_id, entitlements = found
        return JsonResponse(self._body(customer_id, entitlements))

    def _body(self, customer_id: str, entitlements: list[dict]) -> dict:
        moment = self._datetime.to_representation
        entitlements = [
            {**entry, "access_until": moment(entry["access_until"]) if entry["access_until"] else None}
            for entry in entitlements
        ]
        token = services.entitlement_token(customer_id=customer_id, entitlements=entitlements)
        return {"entitled": bool(entitlements), "entitlements": entitlements, "token": token}

    @extend_schema(responses=EntitlementsSerializer, summary="What the customer may watch now")
    def get(self, request):
        customer = request.user.customer
        return Response(self._body(customer.id, selectors.entitlement_list(customer=customer)))


def _change_result(result) -> Response:
    return Response(CheckoutSerializer(result).data)


class SubscriptionListView(generics.ListAPIView):
    write_scope = "subscriptions:write"
    serializer_class = SubscriptionSerializer
    audience = "operator"
    idempotency_resumable = True  # its POST is a checkout, which resumes what a killed run made

    @extend_schema(
        parameters=[SubscriptionFilters],
        summary="Subscriptions",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(SubscriptionFilters, self.request)
        customer_id = self.request.user.customer.id if self.audience == "customer" else params.get("customer")
        return selectors.subscription_list(
            customer_id=customer_id, status=params.get("status"), plan_id=params.get("plan")
        )

    @extend_schema(
        request=SubscriptionCreateSerializer,
        responses={201: CheckoutSerializer},
        summary="Start a subscription for a customer (as checkout does)",
    )
    def post(self, request):
        data = validated_data(SubscriptionCreateSerializer, request)
        customer = customer_get(customer_id=data["customer"])
        result = services.checkout(
            customer=customer,
            plan_id=data["plan"],
            payment_method_id=data["payment_method"],
            ip_country=data["ip_country"] or "",
        )
        return Response(CheckoutSerializer(result).data, status=status.HTTP_201_CREATED)


class MeSubscriptionListView(SubscriptionListView):
    audience = "customer"
    http_method_names = ["get", "head", "options"]


class _SubscriptionView(APIView):
    write_scope = "subscriptions:write"
    audience = "operator"

    def subscription(self, request, subscription_id):
        customer_id = request.user.customer.id if self.audience == "customer" else None
        return selectors.subscription_get(subscription_id=subscription_id, customer_id=customer_id)


class SubscriptionDetailView(_SubscriptionView):
    @extend_schema(responses=SubscriptionSerializer, summary="A subscription")
    def get(self, request, subscription_id: str):
        return Response(SubscriptionSerializer(self.subscription(request, subscription_id)).data)


class MeSubscriptionDetailView(SubscriptionDetailView):
    audience = "customer"


class SubscriptionCancelView(_SubscriptionView):
    @extend_schema(
        request=SubscriptionCancelSerializer, responses=SubscriptionSerializer, summary="Cancel now or at period end"
    )
    def post(self, request, subscription_id: str):
        data = validated_data(SubscriptionCancelSerializer, request)
        reason = "customer_request" if self.audience == "customer" else (data["reason"] or "operator")
        sub = services.subscription_cancel(
            subscription=self.subscription(request, subscription_id), at_period_end=data["at_period_end"], reason=reason
        )
        return Response(SubscriptionSerializer(sub).data)


class MeSubscriptionCancelView(SubscriptionCancelView):
    audience = "customer"


class MeSubscriptionResumeView(_SubscriptionView):
    audience = "customer"

    @extend_schema(request=None, responses=SubscriptionSerializer, summary="Undo a cancellation at period end")
    def post(self, request, subscription_id: str):
        sub = services.subscription_resume(subscription=self.subscription(request, subscription_id))
        return Response(SubscriptionSerializer(sub).data)


class MeSubscriptionChangePlanView(_SubscriptionView):
    audience = "customer"

    @extend_schema(
        request=ChangePlanSerializer,
        responses=CheckoutSerializer,
        summary="Upgrade now (prorated invoice) or downgrade at period end",
    )
    def post(self, request, subscription_id: str):
        data = validated_data(ChangePlanSerializer, request)
        plan = Plan.objects.filter(pk=data["plan"]).first()
        if plan is None:
            raise InvalidRequest(f"No plan '{data['plan']}'.", code="resource_missing", param="plan")
        result = services.subscription_change_plan(
            subscription=self.subscription(request, subscription_id), plan=plan, return_url=data["return_url"]
        )
        return _change_result(
            services.CheckoutResult(
                access=None, subscription=result.subscription, invoice=result.invoice, payment=result.payment
            )
        )


class SubscriptionPauseView(_SubscriptionView):
    @extend_schema(request=None, responses=SubscriptionSerializer, summary="Pause (operator)")
    def post(self, request, subscription_id: str):
        return Response(
            SubscriptionSerializer(
                services.subscription_pause(subscription=self.subscription(request, subscription_id))
            ).data
        )


class SubscriptionResumeView(_SubscriptionView):
    @extend_schema(
        request=None,
        responses=SubscriptionSerializer,
        summary="Resume a paused subscription, or undo a cancel at period end (operator)",
    )
    def post(self, request, subscription_id: str):
        sub = self.subscription(request, subscription_id)
        sub = services.subscription_resume(subscription=sub)
        return Response(SubscriptionSerializer(sub).data)


class SubscriptionExtendView(_SubscriptionView):
    @extend_schema(
        request=ExtendSerializer,
        responses=SubscriptionSerializer,
        summary="Extend the current period by N days, free (operator)",
    )
    def post(self, request, subscription_id: str):
        data = validated_data(ExtendSerializer, request)
        sub = services.subscription_extend(subscription=self.subscription(request, subscription_id), days=data["days"])
        return Response(SubscriptionSerializer(sub).data)


class MeCouponValidateView(APIView):
    audience = "customer"

    @extend_schema(
        request=CouponValidateRequestSerializer,
        responses={200: CouponValidationSerializer, 429: error_response(CODE_ATTEMPTS_LIMITED)},
        parameters=[RETRY_AFTER],
        summary="Check a code for a plan and preview the first invoice (a bad code is valid: false, not an error)",
    )
    def post(self, request):
        data = validated_data(CouponValidateRequestSerializer, request)
        result = services.coupon_preview(
            customer=request.user.customer, code=data["code"], plan=data["plan"], address=client_address(request)
        )
        return Response(CouponValidationSerializer(result).data)


class CustomerExportView(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Everything held about a customer, as JSON (data protection: access and portability)",
    )
    def get(self, request, customer_id: str):
        return Response(services.customer_export(customer=customer_get(customer_id=customer_id)))


class CustomerEraseView(APIView):
    write_scope = "customers:write"

    @extend_schema(
        request=None,
        responses={200: CustomerErasureSerializer},
        summary="Erase a customer's personal data (data protection: the right to erasure); twice is harmless",
    )
    def post(self, request, customer_id: str):
        customer = services.customer_erase(customer=customer_get(customer_id=customer_id))
        return Response(CustomerErasureSerializer(customer).data)
