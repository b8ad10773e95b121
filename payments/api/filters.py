"""The list routes' query-string filters: what each may be, so that garbage is a 400 naming the
parameter and never a query the database refuses."""

from rest_framework import serializers

from integrations.kernel.api.parsing import choice_filter, id_filter, text_filter
from payments.models import Customer, Invoice, Payment


class CustomerFilters(serializers.Serializer):
    external_id = text_filter(Customer._meta.get_field("external_id").max_length)
    email = text_filter(Customer._meta.get_field("email").max_length)


class PaymentFilters(serializers.Serializer):
    customer = id_filter("cus")
    status = choice_filter(Payment.Status.choices)


class InvoiceFilters(serializers.Serializer):
    customer = id_filter("cus")
    status = choice_filter(Invoice.Status.choices)


class CreditNoteFilters(serializers.Serializer):
    invoice = id_filter("inv")
    customer = id_filter("cus")
