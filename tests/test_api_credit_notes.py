"""GET /api/v1/credit-notes and /api/v1/credit-notes/{id} (API.md "Payments and invoices, added"),
and the invoice's `credit_notes`."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import client_for_customer
from payments.services import gateway_account_create
from plans.tests.factories import PlanFactory
from tests.payments_helpers import error_of, paid_checkout, refund

pytestmark = pytest.mark.django_db


def test_a_refund_through_the_api_shows_its_credit_note_on_the_invoice_and_in_the_list(operator_client, customer):
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    bought = paid_checkout(client_for_customer(customer), PlanFactory(code="monthly"))
    made = refund(operator_client, bought["payment"]["id"], amount={"amount": "1.00", "currency": "EUR"}).json()

    invoice = operator_client.get(f"/api/v1/invoices/{bought['invoice']['id']}").json()
    listed = operator_client.get(f"/api/v1/credit-notes?invoice={invoice['id']}").json()["results"]
    note = operator_client.get(f"/api/v1/credit-notes/{invoice['credit_notes'][0]}").json()

    assert [n["id"] for n in listed] == invoice["credit_notes"] and len(listed) == 1
    assert (note["invoice"], note["refund"], note["total"]) == (
        invoice["id"],
        made["id"],
        {"amount": "1.00", "currency": "EUR"},
    )
    assert note["number"].startswith("CN-") and note["lines"][0]["total"] == {"amount": "1.00", "currency": "EUR"}
    assert operator_client.get(f"/api/v1/credit-notes?customer={customer.id}").json()["results"][0]["id"] == note["id"]


def test_unknown_and_malformed_ids(operator_client):
    assert error_of(operator_client.get("/api/v1/credit-notes/cn_nothing"))[0] == 404
    assert error_of(operator_client.get("/api/v1/credit-notes?invoice=not-an-id")) == (
        400,
        "invalid_request_error",
        "parameter_invalid",
    )


def test_listing_credit_notes_reads_as_many_queries_for_three_notes_as_for_one(operator_client, customer):
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    payment = paid_checkout(client_for_customer(customer), PlanFactory(code="monthly"))["payment"]["id"]
    refund(operator_client, payment, amount={"amount": "1.00", "currency": "EUR"})
    with CaptureQueriesContext(connection) as one:
        assert len(operator_client.get("/api/v1/credit-notes").json()["results"]) == 1
    for amount in ("2.00", "3.00"):
        refund(operator_client, payment, amount={"amount": amount, "currency": "EUR"})

    with CaptureQueriesContext(connection) as three:
        listed = operator_client.get("/api/v1/credit-notes").json()["results"]

    assert len(listed) == 3
    assert [q["sql"][:60] for q in three.captured_queries] == [q["sql"][:60] for q in one.captured_queries]
