"""Invoices end to end over HTTP with the sandbox gateway: consecutive numbers across customers and
declines, and who may list and read them (the operator, their own customer, nobody else)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import client_for_customer
from payments.models import Invoice
from payments.tests.factories import CustomerFactory
from tests.payments_helpers import attach_card, buy, paid_checkout

pytestmark = pytest.mark.django_db


# --- Invoices


def test_invoice_numbers_are_consecutive_across_customers(customer_client, sandbox, event_pass):
    other_client = client_for_customer(CustomerFactory())
    mine, theirs = attach_card(customer_client), attach_card(other_client)
    numbers = [
        buy(customer_client, event_pass, mine).json()["invoice"]["number"],
        buy(other_client, event_pass, theirs).json()["invoice"]["number"],
        buy(customer_client, event_pass, mine).json()["invoice"]["number"],
    ]

    year = timezone.now().year
    assert all(re.fullmatch(rf"INV-{year}-\d{{6}}", number) for number in numbers), numbers
    sequence = [int(number.rsplit("-", 1)[1]) for number in numbers]
    assert sequence == list(range(sequence[0], sequence[0] + 3))


def test_a_declined_checkout_still_numbers_its_invoice_without_a_gap(customer_client, sandbox, event_pass):
    buy(customer_client, event_pass, attach_card(customer_client, "4000000000000002"))
    paid = paid_checkout(customer_client, event_pass)

    numbers = sorted(Invoice.objects.values_list("number", flat=True))

    assert paid["invoice"]["number"] == numbers[-1]
    first, second = (int(n.rsplit("-", 1)[1]) for n in numbers)
    assert second == first + 1


def test_invoices_are_listed_for_the_operator_and_for_their_own_customer(
    operator_client, customer_client, customer, sandbox, event_pass
):
    other = CustomerFactory()
    other_client = client_for_customer(other)
    mine = paid_checkout(customer_client, event_pass)
    theirs = paid_checkout(other_client, event_pass)

    everything = operator_client.get("/api/v1/invoices").json()["results"]
    filtered = operator_client.get("/api/v1/invoices", {"customer": customer.id}).json()["results"]
    detail = operator_client.get(f"/api/v1/invoices/{mine['invoice']['id']}")
    own = customer_client.get("/api/v1/me/invoices").json()["results"]

    assert {i["id"] for i in everything} == {mine["invoice"]["id"], theirs["invoice"]["id"]}
    assert [i["id"] for i in filtered] == [mine["invoice"]["id"]]
    assert detail.status_code == 200
    assert detail.json()["number"] == mine["invoice"]["number"]
    assert detail.json()["lines"][0]["total"] == {"amount": "9.99", "currency": "EUR"}
    assert [i["id"] for i in own] == [mine["invoice"]["id"]]
    assert own[0]["status"] == "paid"


def test_another_customers_payment_and_invoice_answer_404(customer_client, sandbox, event_pass):
    theirs = paid_checkout(client_for_customer(CustomerFactory()), event_pass)

    assert customer_client.get(f"/api/v1/me/payments/{theirs['payment']['id']}").status_code == 404
    assert customer_client.get(f"/api/v1/me/invoices/{theirs['invoice']['id']}").status_code == 404
    assert customer_client.get("/api/v1/me/invoices").json()["results"] == []
    assert customer_client.get("/api/v1/me/payments").json()["results"] == []


def test_the_invoice_routes_refuse_a_customer_token(customer_client, sandbox, event_pass):
    mine = paid_checkout(customer_client, event_pass)

    assert customer_client.get("/api/v1/invoices").status_code == 403
    assert customer_client.get(f"/api/v1/invoices/{mine['invoice']['id']}").status_code == 403


@pytest.mark.parametrize("route", ["/api/v1/invoices", "/api/v1/me/invoices"])
def test_listing_invoices_reads_as_many_queries_for_three_as_for_one(
    operator_client, customer_client, sandbox, event_pass, route
):
    client = operator_client if route == "/api/v1/invoices" else customer_client
    paid_checkout(customer_client, event_pass)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(route).json()["results"]) == 1
    for _ in range(2):
        paid_checkout(customer_client, event_pass)

    with CaptureQueriesContext(connection) as three:
        assert len(client.get(route).json()["results"]) == 3

    assert len(three.captured_queries) == len(one.captured_queries)
