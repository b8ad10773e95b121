from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from moneyed import Money
from rest_framework import generics, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.kernel.api.parsing import validated_data, validated_query
from integrations.kernel.api.schema import error_response
from integrations.kernel.errors import InvalidRequest
from payments import selectors, services
from payments.api.filters import CreditNoteFilters, CustomerFilters, InvoiceFilters, PaymentFilters
from payments.api.serializers import (
    CreditNoteSerializer,
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerTokenCreateSerializer,
    CustomerTokenSerializer,
    CustomerUpdateSerializer,
    GatewaySerializer,
    InvoiceSerializer,
    PaymentMethodAttachSerializer,
    PaymentMethodSerializer,
    PaymentSerializer,
    RefundCreateSerializer,
    RefundSerializer,
)
from payments.currency import CurrencyError, normalize_currency, parse_amount
from payments.documents.http import document_response
from payments.gateways.registry import gateway_for


class CustomerListCreateView(generics.ListAPIView):
    write_scope = "customers:write"
    serializer_class = CustomerSerializer

    @extend_schema(
        parameters=[CustomerFilters],
        summary="List or look up customers",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.customer_list(**validated_query(CustomerFilters, self.request))

    @extend_schema(request=CustomerCreateSerializer, responses={201: CustomerSerializer}, summary="Create a customer")
    def post(self, request):
        customer = services.customer_create(**validated_data(CustomerCreateSerializer, request))
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailView(APIView):
    write_scope = "customers:write"

    @extend_schema(responses=CustomerSerializer, summary="Read a customer")
    def get(self, request, customer_id: str):
        return Response(CustomerSerializer(selectors.customer_get(customer_id=customer_id)).data)

    @extend_schema(request=CustomerUpdateSerializer, responses=CustomerSerializer, summary="Edit a customer")
    def patch(self, request, customer_id: str):
        customer = selectors.customer_get(customer_id=customer_id)
        changes = validated_data(CustomerUpdateSerializer, request)
        return Response(CustomerSerializer(services.customer_update(customer=customer, **changes)).data)


class CustomerTokenCreateView(APIView):
    write_scope = "customers:write"

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

    @extend_schema(request=None, responses={204: None}, summary="Revoke every token of the customer (401 from then on)")
    def delete(self, request, customer_id: str):
        services.customer_tokens_revoke(customer=selectors.customer_get(customer_id=customer_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    audience = "customer"

    @extend_schema(responses=CustomerSerializer, summary="The customer behind the token")
    def get(self, request):
        return Response(CustomerSerializer(request.user.customer).data)


class MeGatewayView(APIView):
    audience = "customer"

    @extend_schema(
        parameters=[OpenApiParameter("currency", str, description="ISO 4217; default: the customer's currency.")],
        responses=GatewaySerializer,
        summary="The gateway that serves this customer, and what the app needs to tokenize a card",
    )
    def get(self, request):
        customer = request.user.customer
        raw = request.query_params.get("currency")
        try:
            currency = normalize_currency(raw) if raw else customer.currency
        except CurrencyError as error:
            error.param = "currency"
            raise
        account = selectors.gateway_account_route(country=customer.country, currency=currency)
        body = {"id": account.id, "kind": account.provider, "client": gateway_for(account).client_config()}
        return Response(GatewaySerializer(body).data)


class MePaymentMethodListView(generics.ListAPIView):
    audience = "customer"
    serializer_class = PaymentMethodSerializer

    @extend_schema(summary="The customer's cards")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.payment_method_list(customer=self.request.user.customer)

    @extend_schema(
        request=PaymentMethodAttachSerializer,
        responses={201: PaymentMethodSerializer},
        summary="Attach a tokenized card",
    )
    def post(self, request):
        data = validated_data(PaymentMethodAttachSerializer, request)
        method = services.payment_method_attach(
            customer=request.user.customer, gateway_account_id=data["gateway"], token=data["token"]
        )
        return Response(PaymentMethodSerializer(method).data, status=status.HTTP_201_CREATED)


class MePaymentMethodDetailView(APIView):
    audience = "customer"

    @extend_schema(responses={204: None}, summary="Remove a card")
    def delete(self, request, payment_method_id: str):
        method = selectors.payment_method_get(customer=request.user.customer, payment_method_id=payment_method_id)
        services.payment_method_detach(payment_method=method)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MePaymentMethodDefaultView(APIView):
    audience = "customer"

    @extend_schema(
        request=None, responses=PaymentMethodSerializer, summary="Make this the card subscriptions are charged to"
    )
    def post(self, request, payment_method_id: str):
        method = selectors.payment_method_get(customer=request.user.customer, payment_method_id=payment_method_id)
        return Response(PaymentMethodSerializer(services.payment_method_set_default(payment_method=method)).data)


class PaymentListView(generics.ListAPIView):
    serializer_class = PaymentSerializer
    audience = "operator"

    @extend_schema(
        parameters=[PaymentFilters],
        summary="Payments",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(PaymentFilters, self.request)
        customer_id = self.request.user.customer.id if self.audience == "customer" else params.get("customer")
        return selectors.payment_list(customer_id=customer_id, status=params.get("status"))


class MePaymentListView(PaymentListView):
    audience = "customer"


class PaymentDetailView(APIView):
    audience = "operator"

    @extend_schema(responses=PaymentSerializer, summary="A payment")
    def get(self, request, payment_id: str):
        customer_id = request.user.customer.id if self.audience == "customer" else None
        return Response(PaymentSerializer(selectors.payment_get(payment_id=payment_id, customer_id=customer_id)).data)


class MePaymentDetailView(PaymentDetailView):
    audience = "customer"


class PaymentRefundView(APIView):
    write_scope = "payments:write"

    @extend_schema(
        request=RefundCreateSerializer, responses={201: RefundSerializer}, summary="Refund all or part of a payment"
    )
    def post(self, request, payment_id: str):
        payment = selectors.payment_get(payment_id=payment_id)
        data = validated_data(RefundCreateSerializer, request)
        amount = None
        if data.get("amount") is not None:
            raw = data["amount"]
            currency = payment.amount.currency.code
            try:
                if isinstance(raw, dict):
                    if normalize_currency(raw.get("currency"), require_enabled=False) != currency:
                        raise InvalidRequest(
                            f"The refund must be in {currency}.", code="currency_mismatch", param="amount"
                        )
                    raw = raw.get("amount")
                amount = Money(parse_amount(raw, currency, allow_zero=False), currency)
            except CurrencyError as error:
                error.param = "amount"
                raise
        refund = services.payment_refund(payment=payment, amount=amount, reason=data.get("reason", ""))
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class InvoiceListView(generics.ListAPIView):
    serializer_class = InvoiceSerializer
    audience = "operator"

    @extend_schema(
        parameters=[InvoiceFilters],
        summary="Invoices",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(InvoiceFilters, self.request)
        customer_id = self.request.user.customer.id if self.audience == "customer" else params.get("customer")
        return selectors.invoice_list(customer_id=customer_id, status=params.get("status"))


class MeInvoiceListView(InvoiceListView):
    audience = "customer"


class InvoiceDetailView(APIView):
    @extend_schema(responses=InvoiceSerializer, summary="An invoice")
    def get(self, request, invoice_id: str):
        return Response(InvoiceSerializer(selectors.invoice_get(invoice_id=invoice_id)).data)


PDF_RESPONSES = {
    (200, "application/pdf"): OpenApiResponse(
        OpenApiTypes.BINARY,
        description="The PDF as issued, the same bytes on every call: `ETag` is its SHA-256, "
        "`Content-Disposition` names it by its number (If-None-Match with the ETag: 304).",
    ),
    304: OpenApiResponse(description="Not modified: the If-None-Match ETag is this document's."),
}


class DocumentView(APIView):
    """A PDF route: the answer is a PDF, errors stay JSON whatever the Accept header asks."""

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type


class InvoicePdfView(DocumentView):
    audience = "operator"

    @extend_schema(
        responses={
            **PDF_RESPONSES,
            404: error_response("resource_missing: no such invoice."),
            409: error_response("invoice_not_finalized: a draft has no PDF until it is finalized."),
        },
        summary="An invoice as a PDF, rendered once when finalized and served unchanged ever after",
    )
    def get(self, request, invoice_id: str):
        customer_id = request.user.customer.id if self.audience == "customer" else None
        invoice = selectors.invoice_get(invoice_id=invoice_id, customer_id=customer_id)
        document = services.invoice_document_render(invoice=invoice)
        return document_response(request, document=document, number=invoice.number)


class MeInvoicePdfView(InvoicePdfView):
    audience = "customer"


class CreditNotePdfView(DocumentView):
    @extend_schema(
        responses={**PDF_RESPONSES, 404: error_response("resource_missing: no such credit note.")},
        summary="A credit note as a PDF, rendered once when issued and served unchanged ever after",
    )
    def get(self, request, credit_note_id: str):
        note = selectors.credit_note_get(credit_note_id=credit_note_id)
        document = services.credit_note_document_render(note=note)
        return document_response(request, document=document, number=note.number)


class CreditNoteListView(generics.ListAPIView):
    serializer_class = CreditNoteSerializer

    @extend_schema(parameters=[CreditNoteFilters], summary="Credit notes (a refund issues one)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = validated_query(CreditNoteFilters, self.request)
        return selectors.credit_note_list(invoice_id=params.get("invoice"), customer_id=params.get("customer"))


class CreditNoteDetailView(APIView):
    @extend_schema(responses=CreditNoteSerializer, summary="A credit note")
    def get(self, request, credit_note_id: str):
        return Response(CreditNoteSerializer(selectors.credit_note_get(credit_note_id=credit_note_id)).data)
