"""`/api/v1/metrics/*` (API.md "Metrics"): GET only, so an API key with the `read` scope reaches
them. Each view parses its parameters, calls one selector of plans.metrics and renders it: money as
the API's money objects, rates as decimal strings ("0.2500") or null, days as YYYY-MM-DD."""

import datetime as dt
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from moneyed import Money
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.kernel.api.schema import error_response
from payments.api.fields import MoneyOutputField
from payments.currency import money_repr
from plans import metrics

_BAD_INPUT = error_response(
    "parameter_invalid or parameter_missing (`param` names it: from, to, as_of, interval, convert), "
    "currency_invalid, or exchange_rate_missing (no rate on or before a day that must be converted)."
)
_CURRENCY = OpenApiParameter("currency", str, required=True, description="Reporting currency, ISO 4217 (EUR).")
_CONVERT = OpenApiParameter(
    "convert",
    OpenApiTypes.BOOL,
    description="false (default): only what is priced in `currency`. true: every currency, converted into it "
    "at the latest exchange rate on or before each day (manage.py import_exchange_rates).",
)
_FROM = OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First day (UTC), YYYY-MM-DD.")
_TO = OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (UTC), included; default today.")


def render(value):
    """The selectors' values as JSON: Money as money objects, Decimal rates as strings, days ISO."""
    if isinstance(value, Money):
        return money_repr(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: render(item) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item) for item in value]
    return value


def _rate_field(help_text: str):
    return serializers.CharField(allow_null=True, help_text=f"{help_text} A decimal string (0.2500), null when 0/0.")


class MetricsSummarySerializer(serializers.Serializer):
    as_of = serializers.DateField()
    currency = serializers.CharField()
    converted = serializers.BooleanField(help_text="Whether other currencies were converted in.")
    mrr = MoneyOutputField(help_text="Monthly recurring revenue at the end of as_of (today: now).")
    arr = MoneyOutputField(help_text="12 x MRR.")
    arpu = MoneyOutputField(help_text="MRR / paying customers.")
    active_subscriptions = serializers.IntegerField()
    trialing_subscriptions = serializers.IntegerField()
    past_due_subscriptions = serializers.IntegerField()
    paying_customers = serializers.IntegerField()
    trial_conversion_rate = _rate_field("Trials converted / trials that ended, last 30 days.")
    logo_churn_rate = _rate_field("Customers churned in the last 30 days / paying customers 30 days before.")
    revenue_churn_rate = _rate_field("(Churn + contraction) in the last 30 days / MRR 30 days before.")
    window_days = serializers.IntegerField()


class MovementCountsSerializer(serializers.Serializer):
    new = serializers.IntegerField()
    expansion = serializers.IntegerField()
    contraction = serializers.IntegerField()
    churn = serializers.IntegerField()
    reactivation = serializers.IntegerField()


class MrrMovementsSerializer(serializers.Serializer):
    def get_fields(self):  # `from` is a Python keyword
        return {
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "currency": serializers.CharField(),
            "converted": serializers.BooleanField(),
            **{kind: MoneyOutputField(help_text="A positive amount.") for kind in metrics.KINDS},
            "net": MoneyOutputField(help_text="new + expansion + reactivation - contraction - churn."),
            "counts": MovementCountsSerializer(help_text="Movements of each kind (churn: customers churned)."),
        }


class SeriesPointSerializer(serializers.Serializer):
    def get_fields(self):
        fields = {
            "date": serializers.DateField(help_text="The day, or the month's first day in the range."),
            "mrr": MoneyOutputField(help_text="At the end of the day or month."),
            "arr": MoneyOutputField(),
        }
        fields.update({name: serializers.IntegerField() for name in metrics.COUNT_STOCKS})
        fields.update({name: MoneyOutputField() for name in metrics.MONEY_FLOWS})
        fields["net"] = MoneyOutputField()
        fields.update({name: serializers.IntegerField() for name in metrics.COUNT_FLOWS})
        fields["logo_churn_rate"] = _rate_field("Customers churned / paying customers at its start.")
        fields["trial_conversion_rate"] = _rate_field("Trials converted / trials that ended in it.")
        return fields


class SeriesSerializer(serializers.Serializer):
    def get_fields(self):
        return {
            "currency": serializers.CharField(),
            "converted": serializers.BooleanField(),
            "interval": serializers.ChoiceField(choices=metrics.INTERVALS),
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "results": SeriesPointSerializer(many=True),
        }


class RevenueRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    revenue = MoneyOutputField(help_text="Net of tax of invoices paid, in the currency of the price.")
    recovered = MoneyOutputField(help_text="Of it, renewals paid after a failed charge (dunning).")
    revenue_converted = MoneyOutputField(required=False, help_text="In the reporting currency (with currency=).")
    recovered_converted = MoneyOutputField(required=False)


class RevenueTotalSerializer(serializers.Serializer):
    revenue = MoneyOutputField()
    recovered = MoneyOutputField()


class RevenueSerializer(serializers.Serializer):
    def get_fields(self):
        return {
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "currency": serializers.CharField(allow_null=True),
            "results": RevenueRowSerializer(many=True),
            "total": RevenueTotalSerializer(required=False, help_text="With currency=: everything converted."),
        }


class CouponFiguresRowSerializer(serializers.Serializer):
    coupon = serializers.CharField(help_text="The campaign's id (cpn_...).")
    name = serializers.CharField()
    redemptions = serializers.IntegerField(help_text="Redemptions made in the range.")
    discount_given = serializers.ListField(child=MoneyOutputField(), help_text="On invoices paid in the range.")


class CouponFiguresSerializer(serializers.Serializer):
    def get_fields(self):
        return {
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "results": CouponFiguresRowSerializer(many=True),
        }


class MetricsSummaryView(APIView):
    @extend_schema(
        parameters=[
            _CURRENCY,
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="The day (UTC); default today (now)."),
            _CONVERT,
        ],
        responses={200: MetricsSummarySerializer, 400: _BAD_INPUT},
        summary="MRR, ARR, ARPU, subscriptions, paying customers, trial conversion and churn",
    )
    def get(self, request):
        params = request.query_params
        currency = metrics.metrics_currency(params.get("currency"))
        as_of = metrics.metrics_day(params.get("as_of"), param="as_of", default=None) if params.get("as_of") else None
        convert = metrics.metrics_convert(params.get("convert"))
        return Response(render(metrics.metrics_summary(currency=currency, as_of=as_of, convert=convert)))


class MrrMovementsView(APIView):
    @extend_schema(
        parameters=[_FROM, _TO, _CURRENCY, _CONVERT],
        responses={200: MrrMovementsSerializer, 400: _BAD_INPUT},
        summary="MRR movements of a range: new, expansion, contraction, churn, reactivation and net",
    )
    def get(self, request):
        params = request.query_params
        date_from, date_to = metrics.metrics_range(params.get("from"), params.get("to"))
        currency = metrics.metrics_currency(params.get("currency"))
        convert = metrics.metrics_convert(params.get("convert"))
        totals = metrics.mrr_movements_totals(currency=currency, date_from=date_from, date_to=date_to, convert=convert)
        return Response(render(totals))


class MetricsSeriesView(APIView):
    @extend_schema(
        parameters=[
            _FROM,
            _TO,
            _CURRENCY,
            OpenApiParameter("interval", str, enum=list(metrics.INTERVALS), description="day (default) or month."),
            _CONVERT,
        ],
        responses={200: SeriesSerializer, 400: _BAD_INPUT},
        summary="The figures per day or month over a range (the dashboard's charts)",
    )
    def get(self, request):
        params = request.query_params
        date_from, date_to = metrics.metrics_range(params.get("from"), params.get("to"))
        currency = metrics.metrics_currency(params.get("currency"))
        interval = metrics.metrics_interval(params.get("interval"))
        convert = metrics.metrics_convert(params.get("convert"))
        series = metrics.metrics_series(
            currency=currency, date_from=date_from, date_to=date_to, interval=interval, convert=convert
        )
        return Response(render(series))


class MetricsRevenueView(APIView):
    @extend_schema(
        parameters=[
            _FROM,
            _TO,
            OpenApiParameter("currency", str, description="Also convert each row, and total, into this currency."),
        ],
        responses={200: RevenueSerializer, 400: _BAD_INPUT},
        summary="Revenue and dunning recovered revenue per currency over a range",
    )
    def get(self, request):
        params = request.query_params
        date_from, date_to = metrics.metrics_range(params.get("from"), params.get("to"))
        currency = metrics.metrics_currency(params.get("currency")) if params.get("currency") else None
        return Response(render(metrics.revenue_by_currency(date_from=date_from, date_to=date_to, currency=currency)))


class MetricsCouponsView(APIView):
    @extend_schema(
        parameters=[_FROM, _TO],
        responses={200: CouponFiguresSerializer, 400: _BAD_INPUT},
        summary="Coupon campaigns: redemptions and discount given over a range",
    )
    def get(self, request):
        params = request.query_params
        date_from, date_to = metrics.metrics_range(params.get("from"), params.get("to"))
        return Response(render(metrics.coupon_campaign_figures(date_from=date_from, date_to=date_to)))
