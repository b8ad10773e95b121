"""A subscriber's whole life lands in Xero as an accountant expects, once and in order: created by
the operator's API, a trial with a German card under an EU OSS registration (exclusive prices, 19%
VAT), the paid first invoice at the trial's end, a failed renewal (past due), recovered by a new
card (paid), canceled, part of the last payment refunded. Driven over HTTP and `run_billing
--as-of`, the connector run as its schedule would after each step, against a local Xero-shaped
server: one contact, an invoice per paid invoice with its lines, tax and account codes, a payment
for each, and a credit note for the refund paid back to the card (the invoice was paid in full, so
Xero takes no allocation on it). A second connector that runs only once at the end sends exactly
the same calls."""

from decimal import Decimal

import pytest

from integrations.connectors.services import connector_create, connector_enable, connector_run
from integrations.connectors.xero import xero_settings_update
from integrations.models import ConnectorRecord
from integrations.tests.xero_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TENANT_ID,
    XeroServer,
    forget_committed_tokens,
)
from payments.tests.tax_helpers import shipped_rates_loaded
from plans.services import Trial
from plans.tests.factories import PlanFactory
from tests.connector_life_helpers import fixture_billing, subscriber_life  # noqa: F401 (fixtures)
from tests.subscription_helpers import payments

pytestmark = pytest.mark.django_db

DE_CARD = "4000002760000016"


@pytest.fixture(autouse=True)
def tokens_forgotten():
    yield
    forget_committed_tokens()


@pytest.fixture
def oss(billing):
    """An EU One-Stop Shop registration held in Germany, made by the operator over the API."""
    shipped_rates_loaded()
    response = billing.operator.post(
        "/api/v1/tax/registrations",
        {"country": "DE", "scheme": "eu_oss", "number": "EU276012345", "active_from": "2029-07-01"},
        format="json",
    )
    assert response.status_code == 201, response.content


@pytest.fixture
def taxed_plan(db):
    return PlanFactory(
        code="stream-monthly",
        name="Streaming monthly",
        tax_behavior="exclusive",
        prices=[{"amount": "10.00", "currency": "EUR"}],
        trial=Trial(7, "day", requires_payment_method=True),
    )


def xero_connector(server: XeroServer, name: str):
    connector = connector_create(
        kind="xero",
        name=name,
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN},
        settings={"base_url": server.base_url},
    )
    xero_settings_update(
        connector=connector,
        values={
            "tenant_id": TENANT_ID,
            "token_url": server.token_url,
            "default_account_code": "200",
            "plan_account_codes": {"stream-monthly": "201"},
            "tax_types": [{"tax_status": "collecting", "country": "DE", "rate": "0.19", "tax_type": "OUTPUT2"}],
            "payment_account_code": "090",
        },
    )
    return connector_enable(connector=connector)


def test_a_subscribers_whole_life_lands_in_xero_once_and_in_order(billing, oss, httpserver, taxed_plan):
    live = XeroServer().install(httpserver)
    later = XeroServer().install(httpserver, prefix="/later")
    every_minute = xero_connector(live, "Ledger")
    once_at_the_end = xero_connector(later, "Ledger (caught up later)")

    def scheduled(step, life):
        sent_before = len(live.sent())
        result = connector_run(connector=every_minute)
        assert result.error == "", result.error
        if step in ("created", "trialing", "past_due"):  # nothing to account for: no contact, no invoice paid
            assert len(live.sent()) == sent_before

    life = subscriber_life(billing, taxed_plan, after=scheduled, card=DE_CARD)
    customer, app = life.customer, life.app

    # Once and in order, every call with the tenant and a Bearer token.
    assert [(c.method, c.path) for c in live.sent()] == [
        ("POST", "/Contacts"),
        ("PUT", "/Invoices"),
        ("PUT", "/Payments"),
        ("PUT", "/Invoices"),
        ("PUT", "/Payments"),
        ("PUT", "/CreditNotes"),
        ("PUT", "/Payments"),
    ]
    assert all(c.headers["xero-tenant-id"] == TENANT_ID for c in live.sent())
    assert all(c.authorization.startswith("Bearer xat-") for c in live.sent())
    # The access token lives 30 minutes: each later month starts with a refresh, by the rotated token.
    assert [(c.status, c.body["refresh_token"]) for c in live.token_calls()] == [
        (200, REFRESH_TOKEN),
        (200, "xrt-rotated-1"),
        (200, "xrt-rotated-2"),
    ]
    assert len({c.headers["Idempotency-Key"] for c in live.sent()}) == 7

    # One contact.
    (contact_id, contact) = next(iter(live.contacts.items()))
    assert len(live.contacts) == 1
    assert contact["Name"] == f"Ada Lovelace ({customer.pk})"
    assert (contact["ContactNumber"], contact["EmailAddress"], contact["AccountNumber"]) == (
        customer.pk,
        "Ada@Example.com",  # as the customer gave it
        "viewer-1",
    )
    assert ConnectorRecord.objects.get(connector=every_minute, object_id=customer.pk).external_id == contact_id

    # An invoice per paid invoice, with its line, tax and account codes, each paid in full.
    first, second = (live.invoice_by_number(number) for number in ("INV-2030-000001", "INV-2030-000002"))
    for invoice in (first, second):
        assert invoice["Contact"] == {"ContactID": contact_id}
        assert (invoice["Type"], invoice["CurrencyCode"], invoice["LineAmountTypes"]) == ("ACCREC", "EUR", "Exclusive")
        (item,) = invoice["LineItems"]
        assert (item["AccountCode"], item["TaxType"]) == ("201", "OUTPUT2")
        assert (item["Quantity"], item["UnitAmount"], item["LineAmount"], item["TaxAmount"]) == (
            1,
            Decimal("10.00"),
            Decimal("10.00"),
            Decimal("1.90"),
        )
        assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]) == (
            Decimal("10.00"),
            Decimal("1.90"),
            Decimal("11.90"),
        )
        assert (invoice["Status"], invoice["AmountDue"], invoice["AmountPaid"]) == ("PAID", 0, Decimal("11.90"))
    assert first["LineItems"][0]["Description"].startswith("Streaming monthly (2030-01-17")
    assert second["LineItems"][0]["Description"].startswith("Streaming monthly (2030-02-17")
    ours = {p["id"]: p for p in payments(app)}
    invoice_payments = [live.payments[payment_id] for payment_id in (*first["Payments"], *second["Payments"])]
    assert [p["Reference"] for p in invoice_payments] == [
        p["id"] for p in sorted(ours.values(), key=lambda p: p["created_at"]) if p["status"] != "failed"
    ]
    assert all(p["Account"] == {"Code": "090"} and p["Amount"] == Decimal("11.90") for p in invoice_payments)

    # The refund: a credit note for 4.00 (3.36 + 0.64 VAT) on the renewal's line, paid back.
    (note,) = live.credit_notes.values()
    assert (note["Type"], note["CreditNoteNumber"], note["Reference"]) == (
        "ACCRECCREDIT",
        "CN-2030-000001",
        "INV-2030-000002",
    )
    (item,) = note["LineItems"]
    assert (item["AccountCode"], item["TaxType"], item["LineAmount"], item["TaxAmount"]) == (
        "201",
        "OUTPUT2",
        Decimal("3.36"),
        Decimal("0.64"),
    )
    assert (note["Total"], note["RemainingCredit"], note["Status"]) == (Decimal("4.00"), 0, "PAID")
    assert note["Allocations"] == []  # the invoice owed nothing more
    (cash_refund,) = [live.payments[payment_id] for payment_id in note["Payments"]]
    assert cash_refund["Reference"] == life.refund_id
    assert (cash_refund["Amount"], cash_refund["Account"]) == (Decimal("4.00"), {"Code": "090"})

    # A connector that catches up in one run sends the very same calls.
    assert connector_run(connector=once_at_the_end).error == ""
    assert [(c.method, c.path, c.body, c.headers["Idempotency-Key"]) for c in later.sent()] == [
        (c.method, c.path, c.body, c.headers["Idempotency-Key"]) for c in live.sent()
    ]
