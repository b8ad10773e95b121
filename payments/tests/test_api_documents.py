"""The PDF routes (API.md): GET /api/v1/invoices/{id}/pdf and /api/v1/credit-notes/{id}/pdf with an
API key, GET /api/v1/me/invoices/{id}/pdf with the customer's token (only their own); the same
bytes on every call, the number as file name, the SHA-256 as ETag; errors in the API's format."""

import hashlib

import pytest
from moneyed import Money

from conftest import client_for_customer
from payments import services
from payments.tests.factories import CustomerFactory, open_invoice, sandbox_account, sandbox_card

pytestmark = pytest.mark.django_db


def _pdf(response, number: str) -> bytes:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
    content = response.content
    assert content.startswith(b"%PDF-")
    assert response["ETag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    return content


def test_an_operator_gets_an_invoice_as_the_same_pdf_on_every_call(operator_client, customer):
    invoice = open_invoice(customer=customer)

    first = _pdf(operator_client.get(f"/api/v1/invoices/{invoice.id}/pdf"), invoice.number)
    second = _pdf(operator_client.get(f"/api/v1/invoices/{invoice.id}/pdf"), invoice.number)

    assert first == second


def test_an_etag_the_client_holds_answers_304_without_the_body(operator_client, customer):
    invoice = open_invoice(customer=customer)
    etag = operator_client.get(f"/api/v1/invoices/{invoice.id}/pdf")["ETag"]

    response = operator_client.get(f"/api/v1/invoices/{invoice.id}/pdf", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304 and response.content == b"" and response["ETag"] == etag
    assert operator_client.get(f"/api/v1/invoices/{invoice.id}/pdf", HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_a_draft_invoice_has_no_pdf_yet(operator_client, customer):
    draft = services.invoice_create(
        customer=customer, currency="EUR", lines=[services.LineSpec("Pass", Money("9.99", "EUR"))]
    )

    response = operator_client.get(f"/api/v1/invoices/{draft.id}/pdf", HTTP_ACCEPT="application/pdf")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invoice_not_finalized"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_an_unknown_invoice_is_a_404_in_the_api_format_even_when_a_pdf_is_asked_for(operator_client):
    response = operator_client.get("/api/v1/invoices/inv_nothing/pdf", HTTP_ACCEPT="application/pdf")

    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "resource_missing"


def test_a_customer_gets_their_own_invoice_and_never_another_customers(customer):
    mine = open_invoice(customer=customer)
    theirs = open_invoice(customer=CustomerFactory())
    app = client_for_customer(customer)

    content = _pdf(app.get(f"/api/v1/me/invoices/{mine.id}/pdf"), mine.number)

    assert app.get(f"/api/v1/me/invoices/{theirs.id}/pdf").status_code == 404
    assert content == services.invoice_document_render(invoice=mine).content


def test_each_pdf_route_wants_its_own_kind_of_credential(operator_client, customer, anon_client):
    invoice = open_invoice(customer=customer)

    assert operator_client.get(f"/api/v1/me/invoices/{invoice.id}/pdf").status_code == 403
    assert client_for_customer(customer).get(f"/api/v1/invoices/{invoice.id}/pdf").status_code == 403
    assert anon_client.get(f"/api/v1/invoices/{invoice.id}/pdf").status_code == 401


def test_an_operator_gets_a_credit_note_as_a_pdf_named_by_its_number(operator_client, customer):
    invoice = open_invoice(customer=customer)
    card = sandbox_card(customer=customer, account=sandbox_account())
    payment = services.invoice_pay(invoice=invoice, payment_method=card)
    note = services.payment_refund(payment=payment, amount=Money("4.00", "EUR")).credit_note

    first = _pdf(operator_client.get(f"/api/v1/credit-notes/{note.id}/pdf"), note.number)

    assert first == _pdf(operator_client.get(f"/api/v1/credit-notes/{note.id}/pdf"), note.number)
    assert operator_client.get("/api/v1/credit-notes/cn_nothing/pdf").status_code == 404


def test_the_schema_describes_the_pdf_routes(operator_client):
    schema = operator_client.get("/api/schema/?format=json").json()

    for route in ("/api/v1/invoices/{invoice_id}/pdf", "/api/v1/me/invoices/{invoice_id}/pdf"):
        responses = schema["paths"][route]["get"]["responses"]
        assert "application/pdf" in responses["200"]["content"], route
        assert "409" in responses and "404" in responses
    assert (
        "application/pdf"
        in schema["paths"]["/api/v1/credit-notes/{credit_note_id}/pdf"]["get"]["responses"]["200"]["content"]
    )


@pytest.mark.parametrize(("given", "shown"), [("de-at", "de-AT"), ("", None)])
def test_a_customer_is_given_a_preferred_locale_over_the_api(operator_client, given, shown):
    response = operator_client.post(
        "/api/v1/customers",
        {"external_id": f"loc-{given}", "email": "a@example.com", "country": "AT", "preferred_locale": given},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["preferred_locale"] == shown


def test_a_preferred_locale_that_is_no_language_tag_is_a_400(operator_client, customer):
    response = operator_client.patch(
        f"/api/v1/customers/{customer.id}", {"preferred_locale": "klingon!"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_invalid"
    assert response.json()["error"]["param"] == "preferred_locale"
    changed = operator_client.patch(f"/api/v1/customers/{customer.id}", {"preferred_locale": "de"}, format="json")
    assert changed.status_code == 200 and changed.json()["preferred_locale"] == "de"
