"""The list routes' query-string filters: what each may be, so that garbage is a 400 naming the
parameter and never a query the database refuses."""

from rest_framework import serializers

from integrations.kernel.api.parsing import choice_filter, id_filter, text_filter
from plans.models import Plan, Subscription


class PlanFilters(serializers.Serializer):
    status = choice_filter(Plan.Status.choices)
    kind = choice_filter(Plan.Kind.choices)
    code = text_filter(Plan._meta.get_field("code").max_length)


class SubscriptionFilters(serializers.Serializer):
    customer = id_filter("cus", help_text="A `cus_` id (operator routes; a customer sees their own).")
    status = choice_filter(Subscription.Status.choices)
    plan = id_filter("pln")
