"""A subscriber's whole life lands in Xero as an accountant expects, once and in order: created by
the operator's API, a trial with a German card under an EU OSS registration (exclusive prices, 19%
VAT), the paid first invoice at the trial's end, a failed renewal (past due), recovered by a new
card (paid), canceled, part of the last payment refunded. Driven over HTTP and `run_billing
--as-of`, the connector run as its schedule would after each step, against a local Xero-shaped
server: one contact, an invoice per paid invoice with its lines, tax and account codes, a payment
for each, and a credit note for the refund paid back to the card (the invoice was paid in full, so
Xero takes no allocation on it). A second connector that runs only once at the end sends exactly
the same calls."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from dateutil.relativedelta import relativedelta

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
from payments.models import Customer
from payments.tests.tax_helpers import shipped_rates_loaded
from plans.services import Trial
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import (
    NO_FUNDS_CARD,
    START,
    Billing,
    attach_card,
    checkout,
    make_default,
    payments,
    subscription,
)
from tests.subscription_lifecycle_helpers import cancel

pytestmark = pytest.mark.django_db

DE_CARD = "4000002760000016"


@pytest.fixture
def billing(api_key, django_capture_on_commit_callbacks, settings):
    """As tests/conftest.py's, but the clock ticks from START: events keep the order they were written
    in (a frozen clock gives every event of a request the same created_at)."""
    from payments.services import gateway_account_create

    settings.CONNECTOR_SETTLE_SECONDS = 0
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    with time_machine.travel(START, tick=True) as traveller:
        yield Billing(traveller=traveller, capture=django_capture_on_commit_callbacks, api_key=api_key)
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
def trial_plan(db):
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


def test_a_subscribers_whole_life_lands_in_xero_once_and_in_order(billing, oss, httpserver, trial_plan):
    live = XeroServer().install(httpserver)
    later = XeroServer().install(httpserver, prefix="/later")
    every_minute = xero_connector(live, "Ledger")
    once_at_the_end = xero_connector(later, "Ledger (caught up later)")

    def scheduled():
        result = connector_run(connector=every_minute)
        assert result.error == "", result.error

    # Created by the operator's API: no contact yet (nothing to account for).
    created = billing.operator.post(
        "/api/v1/customers",
        {"external_id": "viewer-1", "email": "Ada@Example.com", "country": "DE", "name": "Ada Lovelace"},
        format="json",
    )
    assert created.status_code == 201, created.content
    customer = Customer.objects.get(pk=created.json()["id"])
    app = billing.app(customer)
    scheduled()

    # A 7-day trial with a German card: still nothing in the ledger.
    started = checkout(app, trial_plan, attach_card(app, DE_CARD))
    assert started.status_code == 201, started.content
    sub = started.json()["subscription"]
    scheduled()
    assert live.calls == []

    # The trial ends: the first invoice (10.00 + 19% VAT) is paid.
    trial_end = START + timedelta(days=7)
    billing.run(trial_end + timedelta(minutes=1))
    assert subscription(app, sub["id"])["status"] == "active"
    scheduled()

    # The renewal fails: past due, and nothing reaches Xero (the invoice is not paid).
    make_default(app, attach_card(app, NO_FUNDS_CARD))
    renewal = trial_end + relativedelta(months=1)
    billing.run(renewal + timedelta(minutes=1))
    assert subscription(app, sub["id"])["status"] == "past_due"
    sent_before = len(live.sent())
    scheduled()
    assert len(live.sent()) == sent_before

    # Recovered by a new default card: the renewal invoice is paid.
    billing.travel(renewal + timedelta(hours=5))
    make_default(app, attach_card(app, DE_CARD))
    assert subscription(app, sub["id"])["status"] == "active"
    scheduled()

    # Canceled now, then 4.00 of the last payment refunded.
    billing.travel(renewal + timedelta(days=2))
    cancel(app, sub["id"], at_period_end=False)
    scheduled()
    last_paid = [p for p in payments(app) if p["status"] == "succeeded"][-1]
    refunded = billing.operator.post(f"/api/v1/payments/{last_paid['id']}/refunds", {"amount": "4.00"}, format="json")
    assert refunded.status_code == 201, refunded.content
    scheduled()

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
    assert cash_refund["Reference"] == refunded.json()["id"]
    assert (cash_refund["Amount"], cash_refund["Account"]) == (Decimal("4.00"), {"Code": "090"})

    # A connector that catches up in one run sends the very same calls.
    assert connector_run(connector=once_at_the_end).error == ""
    assert [(c.method, c.path, c.body, c.headers["Idempotency-Key"]) for c in later.sent()] == [
        (c.method, c.path, c.body, c.headers["Idempotency-Key"]) for c in live.sent()
    ]
