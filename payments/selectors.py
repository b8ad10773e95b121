from django.db.models import QuerySet

from integrations.errors import NotFound
from payments.models import Customer


def customer_list(*, external_id: str | None = None, email: str | None = None) -> QuerySet[Customer]:
    customers = Customer.objects.all()
    if external_id is not None:
        customers = customers.filter(external_id=external_id)
    if email:
        customers = customers.filter(email__iexact=email)
    return customers


def customer_get(*, customer_id: str) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer '{customer_id}'.")
    return customer
