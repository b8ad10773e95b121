"""One representation per resource: the API answers with the same function that builds event
payloads, and each serializer's declared fields (the OpenAPI schema) are exactly its keys."""

import pytest
from moneyed import Money

from coupons.api.serializers import CouponSerializer
from coupons.services import coupon_create
from integrations.models import Event
from payments.api.serializers import (
    CustomerSerializer,
    InvoiceLineSerializer,
    InvoiceSerializer,
    PaymentMethodSerializer,
    PaymentSerializer,
    RefundSerializer,
)
from payments.services import customer_create, payment_refund
from payments.tests.factories import sandbox_account, sandbox_card
from plans.api.serializers import AccessSerializer, CustomerPlanSerializer, PlanSerializer, SubscriptionSerializer
from plans.selectors import plan_list_for_sale, plans_priced_for
from plans.services import checkout
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold(db):
    """A subscription, a pass and a refund, bought through the services with a sandbox card."""
    account = sandbox_account()
    customer = customer_create(external_id="ada", email="ada@example.com", country="DE", name="Ada")
    card = sandbox_card(customer=customer, account=account)
    monthly = PlanFactory(code="monthly", prices=[{"amount": "9.99", "currency": "EUR"}])
    day_pass = PlanFactory(
        code="day-pass", kind="one_off", interval=None, access_days=1, prices=[{"amount": "2.99", "currency": "EUR"}]
    )
    subscribed = checkout(customer=customer, plan_id=monthly.id, payment_method_id=card.id)
    bought = checkout(customer=customer, plan_id=day_pass.id, payment_method_id=card.id)
    refund = payment_refund(payment=bought.payment, amount=Money("1.00", "EUR"))
    coupon = coupon_create(
        name="Spring", kind="single_code", code="SPRING", discount={"type": "percent", "percent_off": "10"}
    )
    return {
        "customer": customer,
        "card": card,
        "plan": monthly,
        "subscription": subscribed.subscription,
        "invoice": subscribed.invoice,
        "payment": subscribed.payment,
        "access": bought.access,
        "refund": refund,
        "coupon": coupon,
    }


@pytest.mark.parametrize(
    ("serializer", "name"),
    [
        (CustomerSerializer, "customer"),
        (PaymentMethodSerializer, "card"),
        (InvoiceSerializer, "invoice"),
        (PaymentSerializer, "payment"),
        (RefundSerializer, "refund"),
        (PlanSerializer, "plan"),
        (SubscriptionSerializer, "subscription"),
        (AccessSerializer, "access"),
        (CouponSerializer, "coupon"),
    ],
)
def test_a_serializers_fields_are_exactly_what_its_representation_gives(sold, serializer, name):
    instance = type(sold[name]).objects.get(pk=sold[name].pk)

    rendered = serializer(instance).data

    assert set(rendered) == set(serializer().fields)


def test_invoice_lines_and_plans_for_sale_are_described_as_they_are_rendered(sold):
    line = sold["invoice"].lines.get()
    [for_sale] = plans_priced_for(
        customer=sold["customer"], plans=plan_list_for_sale(currency="EUR").filter(pk=sold["plan"].pk)
    )

    assert set(InvoiceLineSerializer(line).data) == set(InvoiceLineSerializer().fields)
    assert set(CustomerPlanSerializer(for_sale).data) == set(CustomerPlanSerializer().fields)


@pytest.mark.parametrize(
    ("event_type", "key", "path"),
    [
        ("customer.created", "customer", "/api/v1/customers/{customer.id}"),
        ("payment.refunded", "refund", None),
        ("invoice.paid", "invoice", "/api/v1/invoices/{invoice.id}"),
        ("subscription.activated", "subscription", "/api/v1/subscriptions/{subscription.id}"),
        ("coupon.created", "coupon", "/api/v1/coupons/{coupon.id}"),
    ],
)
def test_an_events_object_is_what_the_api_answers_for_it(sold, operator_client, event_type, key, path):
    event = Event.objects.filter(type=event_type).order_by("created_at").first()
    if path is None:  # refunds have no route of their own: the serializer is the API's view
        expected = RefundSerializer(type(sold[key]).objects.get(pk=sold[key].pk)).data
    else:
        expected = operator_client.get(path.format(**sold)).json()

    assert event.payload[key] == expected
