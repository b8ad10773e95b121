"""The Xero connector over HTTP against a local Xero-shaped server: the calls, their headers and
bodies (contacts, ACCREC invoices with lines, tax types and account codes, payments, credit notes,
allocations, cash refunds), the mapping and its refusals, OAuth2 refresh with rotating refresh
tokens that survive a failed event and a crash, an access token expiring mid-run, 429 with
Retry-After, 400 ValidationException and 403. Events are written with event_emit and payloads
shaped as the API shows them (this app knows no domain model)."""

import base64
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from integrations.connectors.models import ConnectorToken
from integrations.connectors.services import connector_create, connector_run, connector_update
from integrations.connectors.xero import TaxRule, XeroMapping, xero_json, xero_settings_update
from integrations.kernel.errors import InvalidRequest
from integrations.models import Connector, ConnectorRecord
from integrations.services import event_emit
from integrations.tests.xero_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TENANT_ID,
    XeroServer,
    forget_committed_tokens,
)

pytestmark = pytest.mark.django_db

MAPPING = {
    "default_account_code": "200",
    "plan_account_codes": {"stream-premium": "201"},
    "tax_types": [
        {"tax_status": "collecting", "country": "DE", "rate": "0.19", "tax_type": "OUTPUT2"},
        {"tax_status": "reverse_charge", "tax_type": "ECOUTPUTSERVICES"},
        {"tax_status": "not_registered", "tax_type": "NONE"},
    ],
    "payment_account_code": "090",
}


@pytest.fixture(autouse=True)
def _committed_tokens_forgotten():
    yield
    forget_committed_tokens()


@pytest.fixture
def xero(httpserver):
    return XeroServer().install(httpserver)


@pytest.fixture
def settled(settings):
    settings.CONNECTOR_SETTLE_SECONDS = 0


def xero_connector(server: XeroServer, name: str = "Ledger", **mapping) -> Connector:
    connector = connector_create(
        kind="xero",
        name=name,
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN},
        settings={"base_url": server.base_url},
    )
    xero_settings_update(
        connector=connector,
        values={"tenant_id": TENANT_ID, "token_url": server.token_url, **MAPPING, **mapping},
    )
    return Connector.objects.get(pk=connector.pk)


@pytest.fixture
def connector(xero, settled):
    from integrations.connectors.services import connector_enable

    return connector_enable(connector=xero_connector(xero))


def eur(amount: str) -> dict:
    return {"amount": amount, "currency": "EUR"}


def customer(cid="cus_1", email="ada@example.com", name="Ada Lovelace", type_="customer.created", **extra):
    body = {"id": cid, "email": email, "name": name, "country": "DE", "currency": "EUR", "external_id": "viewer-1"}
    return event_emit(type=type_, payload={"customer": {**body, **extra}}, customer_id=cid)


def plan(pid="pln_1", code="stream-monthly", name="Streaming monthly"):
    return event_emit(type="plan.created", payload={"plan": {"id": pid, "code": code, "name": name}})


def line(*, amount="10.00", discount="0.00", net="10.00", tax="1.90", total="11.90", rate="0.19", description=None):
    return {
        "description": description or "Streaming monthly (2030-01-17 to 2030-02-17)",
        "amount": eur(amount),
        "discount": eur(discount),
        "net": eur(net),
        "tax_rate": rate,
        "tax": eur(tax),
        "total": eur(total),
        "quantity": 1,
        "unit_amount": eur(amount),
        "reference": "price:1",
    }


def invoice(
    iid="inv_1", number="INV-2030-000001", lines=None, inclusive=False, status="collecting", country="DE", cid="cus_1"
):
    lines = lines or [line()]
    total = sum(Decimal(item["total"]["amount"]) for item in lines)
    tax = sum(Decimal(item["tax"]["amount"]) for item in lines)
    taxed = status in ("collecting", "reverse_charge")
    return {
        "id": iid,
        "number": number,
        "customer": cid,
        "status": "paid",
        "currency": "EUR",
        "total": eur(str(total)),
        "tax": eur(str(tax)),
        "tax_inclusive": inclusive,
        "tax_status": status,
        "tax_breakdown": [{"country": country, "rate": lines[0]["tax_rate"]}] if taxed else [],
        "lines": lines,
        "created_at": "2030-01-17T12:01:00Z",
        "finalized_at": "2030-01-17T12:01:00Z",
        "paid_at": "2030-01-17T12:01:00Z",
    }


def paid(inv: dict, *, payment_id="pay_1"):
    """payment.succeeded then invoice.paid, as payments writes them."""
    payment = {
        "id": payment_id,
        "invoice": inv["id"],
        "customer": inv["customer"],
        "status": "succeeded",
        "amount": inv["total"],
        "captured_at": "2030-01-17T12:01:00Z",
    }
    event_emit(type="payment.succeeded", payload={"payment": payment}, customer_id=inv["customer"])
    return event_emit(type="invoice.paid", payload={"invoice": inv}, customer_id=inv["customer"])


def credit_note(inv: dict, *, net="3.36", tax="0.64", total="4.00", cnid="cn_1", refund="ref_1"):
    note = {
        "id": cnid,
        "number": "CN-2030-000001",
        "invoice": inv["id"],
        "refund": refund,
        "currency": "EUR",
        "lines": [
            {
                "invoice_line": 1,
                "description": inv["lines"][0]["description"],
                "net": eur(net),
                "tax": eur(tax),
                "total": eur(total),
            }
        ],
        "subtotal": eur(net),
        "tax": eur(tax),
        "total": eur(total),
        "created_at": "2030-02-19T12:00:00Z",
    }
    return event_emit(type="credit_note.created", payload={"credit_note": note}, customer_id=inv["customer"])


def refreshed(connector) -> Connector:
    return Connector.objects.get(pk=connector.pk)


def ran(connector, **kwargs):
    result = connector_run(connector=connector, **kwargs)
    assert result.error == "", result.error
    return result


# --- What lands in Xero


def test_a_paid_invoice_lands_as_one_contact_one_invoice_with_its_lines_and_one_payment(xero, connector):
    customer()
    plan()
    inv = invoice()
    last = paid(inv)

    assert ran(connector).handled == 4

    token, *api = xero.calls
    assert (token.method, token.path, token.status) == ("POST", "/connect/token", 200)
    assert (
        token.headers["Authorization"] == "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    )
    assert token.body == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
    assert [(c.method, c.path, c.status) for c in api] == [
        ("POST", "/Contacts", 200),
        ("PUT", "/Invoices", 200),
        ("PUT", "/Payments", 200),
    ]
    (access,) = xero.access_tokens
    assert all(c.authorization == f"Bearer {access}" and c.headers["xero-tenant-id"] == TENANT_ID for c in api)
    assert [c.headers["Idempotency-Key"] for c in api] == [
        f"{last.id}:contact",
        f"{last.id}:invoice",
        f"{last.id}:payment",
    ]
    assert all(c.headers["Content-Type"] == "application/json" for c in api)

    (contact,) = xero.contacts.values()
    assert contact["Name"] == "Ada Lovelace (cus_1)"
    assert (contact["ContactNumber"], contact["EmailAddress"], contact["AccountNumber"]) == (
        "cus_1",
        "ada@example.com",
        "viewer-1",
    )
    (sent,) = api[1].body["Invoices"]
    assert sent["Type"] == "ACCREC" and sent["Status"] == "AUTHORISED"
    assert (sent["InvoiceNumber"], sent["Reference"], sent["CurrencyCode"]) == ("INV-2030-000001", "inv_1", "EUR")
    assert (sent["Date"], sent["DueDate"], sent["LineAmountTypes"]) == ("2030-01-17", "2030-01-17", "Exclusive")
    assert sent["Contact"] == {"ContactID": contact["ContactID"]}
    assert sent["LineItems"] == [
        {
            "Description": "Streaming monthly (2030-01-17 to 2030-02-17)",
            "Quantity": 1,
            "UnitAmount": Decimal("10.00"),
            "AccountCode": "200",
            "TaxType": "OUTPUT2",
            "TaxAmount": Decimal("1.90"),
            "LineAmount": Decimal("10.00"),
        }
    ]
    stored = xero.invoice_by_number("INV-2030-000001")
    assert (stored["SubTotal"], stored["TotalTax"], stored["Total"]) == (
        Decimal("10.00"),
        Decimal("1.90"),
        Decimal("11.90"),
    )
    assert (stored["Status"], stored["AmountDue"], stored["AmountPaid"]) == ("PAID", 0, Decimal("11.90"))
    (payment,) = api[2].body["Payments"]
    assert payment == {
        "Invoice": {"InvoiceID": stored["InvoiceID"]},
        "Account": {"Code": "090"},
        "Date": "2030-01-17",
        "Amount": Decimal("11.90"),
        "Reference": "pay_1",
    }
    record = ConnectorRecord.objects.get(connector=connector, object_type="invoice", object_id="inv_1")
    assert record.external_id == stored["InvoiceID"] and record.state["payment_sent"] in xero.payments
    assert ConnectorRecord.objects.get(connector=connector, object_type="customer").external_id == contact["ContactID"]

    assert ran(connector).handled == 0  # nothing new: nothing sent
    assert len(xero.calls) == 4


def test_amounts_are_sent_as_exact_json_numbers_never_floats():
    assert (
        xero_json({"Amount": Decimal("0.10"), "Quantity": Decimal(1), "Name": "x"})
        == '{"Amount":0.10,"Quantity":1,"Name":"x"}'
    )
    with pytest.raises(TypeError):
        xero_json({"Amount": 0.1})


def test_inclusive_prices_and_a_discount_become_inclusive_line_amounts_with_the_discount(xero, connector):
    customer()
    discounted = line(amount="9.99", discount="2.00", net="6.71", tax="1.28", total="7.99")
    paid(invoice(lines=[discounted], inclusive=True))
    ran(connector)

    (sent,) = xero.sent("PUT", "/Invoices")[0].body["Invoices"]
    assert sent["LineAmountTypes"] == "Inclusive"
    (item,) = sent["LineItems"]
    assert (item["UnitAmount"], item["DiscountAmount"], item["LineAmount"], item["TaxAmount"]) == (
        Decimal("9.99"),
        Decimal("2.00"),
        Decimal("7.99"),
        Decimal("1.28"),
    )
    stored = xero.invoice_by_number("INV-2030-000001")
    assert (stored["Total"], stored["TotalTax"], stored["SubTotal"]) == (
        Decimal("7.99"),
        Decimal("1.28"),
        Decimal("6.71"),
    )
    assert stored["Status"] == "PAID"


def test_each_plan_posts_to_its_account_code_and_others_to_the_default(xero, connector):
    customer()
    plan("pln_2", code="stream-premium", name="Streaming premium")
    plan("pln_3", code="stream", name="Streaming")
    premium = line(description="Streaming premium (2030-01-17 to 2030-02-17)")
    paid(invoice("inv_1", "INV-1", lines=[premium]))
    paid(invoice("inv_2", "INV-2", lines=[line()]), payment_id="pay_2")  # "Streaming monthly": plan not mapped
    event_emit(
        type="subscription.renewed",
        payload={"subscription": {"id": "sub_1", "plan": "pln_2", "status": "active"}, "invoice": "inv_3"},
        customer_id="cus_1",
    )
    paid(invoice("inv_3", "INV-3", lines=[line(description="Anything")]), payment_id="pay_3")
    ran(connector)

    codes = [c.body["Invoices"][0]["LineItems"][0]["AccountCode"] for c in xero.sent("PUT", "/Invoices")]
    assert codes == ["201", "200", "201"]  # by name; not mapped → the default; by the renewal naming the invoice


def test_tax_types_follow_the_most_specific_rule_then_the_default():
    mapping = XeroMapping(
        default_tax_type="NONE",
        tax_rules=(
            TaxRule("collecting", "", None, "OUTPUT"),
            TaxRule("collecting", "DE", None, "DEOUTPUT"),
            TaxRule("collecting", "DE", Decimal("0.07"), "DEREDUCED"),
            TaxRule("reverse_charge", "", None, "ECOUTPUTSERVICES"),
        ),
    )
    case = {"tax_status": "collecting", "country": "DE"}
    assert mapping.tax_type(**case, rate=Decimal("0.07")) == "DEREDUCED"
    assert mapping.tax_type(**case, rate=Decimal("0.19")) == "DEOUTPUT"
    assert mapping.tax_type(tax_status="collecting", country="FR", rate=Decimal("0.2")) == "OUTPUT"
    assert mapping.tax_type(tax_status="reverse_charge", country="FR", rate=Decimal(0)) == "ECOUTPUTSERVICES"
    assert mapping.tax_type(tax_status="no_rate", country="", rate=Decimal(0)) == "NONE"


def test_a_line_without_a_mapping_stops_the_connector_naming_what_to_map(xero, connector):
    customer()
    paid(invoice(country="FR", lines=[line(rate="0.2")]))

    result = connector_run(connector=connector)

    assert "No Xero tax type is mapped for collecting in FR at rate 0.2" in result.error
    assert "mapping screen" in result.error
    assert xero.sent("PUT") == []
    failing = refreshed(connector)
    assert failing.status == "failing" and failing.cursor_event_id != ""  # stopped at the invoice, kept to retry

    xero_settings_update(connector=connector, values={"default_tax_type": "NONE", "default_account_code": ""})
    assert (
        "No Xero account code is mapped for a line whose plan is not known"
        in connector_run(connector=connector, force=True).error
    )
    xero_settings_update(connector=connector, values={"default_account_code": "260"})
    ran(connector, force=True)
    (item,) = xero.sent("PUT", "/Invoices")[0].body["Invoices"][0]["LineItems"]
    assert (item["TaxType"], item["AccountCode"]) == ("NONE", "260")


def test_no_payment_account_is_refused_before_the_payment(xero, connector):
    xero_settings_update(connector=connector, values={"payment_account_code": ""})
    customer()
    paid(invoice())
    assert "No Xero bank or clearing account code" in connector_run(connector=connector).error
    assert [c.path for c in xero.sent()] == ["/Contacts", "/Invoices"]
    xero_settings_update(connector=connector, values={"payment_account_code": "090"})
    ran(connector, force=True)  # the same event again: Xero replays the first answers, then the payment
    assert len(xero.invoices) == 1 and len(xero.contacts) == 1 and len(xero.payments) == 1


def test_reverse_charge_and_untaxed_invoices_take_their_tax_types(xero, connector):
    customer(tax_id="FR40303265045", business_name="Studio Lumière")
    paid(
        invoice(
            "inv_1",
            "INV-1",
            status="reverse_charge",
            country="FR",
            lines=[line(net="9.99", amount="9.99", tax="0.00", total="9.99", rate="0")],
        )
    )
    paid(
        invoice(
            "inv_2",
            "INV-2",
            status="not_registered",
            lines=[line(net="9.99", amount="9.99", tax="0.00", total="9.99", rate="0")],
        ),
        payment_id="pay_2",
    )
    ran(connector)

    tax_types = [c.body["Invoices"][0]["LineItems"][0]["TaxType"] for c in xero.sent("PUT", "/Invoices")]
    assert tax_types == ["ECOUTPUTSERVICES", "NONE"]
    (contact,) = xero.contacts.values()
    assert contact["Name"] == "Studio Lumière (cus_1)" and contact["TaxNumber"] == "FR40303265045"


# --- Refunds


def test_a_refund_of_a_paid_invoice_is_a_credit_note_paid_back_to_the_card(xero, connector):
    customer()
    inv = invoice()
    paid(inv)
    note_event = credit_note(inv)
    ran(connector)

    (note,) = xero.credit_notes.values()
    sent = xero.sent("PUT", "/CreditNotes")[0].body["CreditNotes"][0]
    assert sent["Type"] == "ACCRECCREDIT" and sent["Status"] == "AUTHORISED"
    assert (sent["CreditNoteNumber"], sent["Reference"], sent["Date"]) == (
        "CN-2030-000001",
        "INV-2030-000001",
        "2030-02-19",
    )
    assert sent["LineItems"] == [
        {
            "Description": "Streaming monthly (2030-01-17 to 2030-02-17)",
            "Quantity": 1,
            "UnitAmount": Decimal("3.36"),
            "AccountCode": "200",
            "TaxType": "OUTPUT2",
            "TaxAmount": Decimal("0.64"),
            "LineAmount": Decimal("3.36"),
        }
    ]
    assert note["Total"] == Decimal("4.00")
    # The invoice was paid in full: Xero allows no allocation to it; the credit is refunded in cash.
    assert xero.sent("PUT", f"/CreditNotes/{note['CreditNoteID']}/Allocations") == []
    refund = xero.sent("PUT", "/Payments")[-1]
    assert refund.headers["Idempotency-Key"] == f"{note_event.id}:refund"
    assert refund.body["Payments"][0] == {
        "CreditNote": {"CreditNoteID": note["CreditNoteID"]},
        "Account": {"Code": "090"},
        "Date": "2030-02-19",
        "Amount": Decimal("4.00"),
        "Reference": "ref_1",
    }
    assert (note["RemainingCredit"], note["Status"]) == (0, "PAID")


def test_a_credit_note_on_an_invoice_still_owed_in_xero_is_allocated_to_it(xero, connector):
    customer()
    inv = invoice()
    event_emit(type="invoice.paid", payload={"invoice": inv}, customer_id="cus_1")  # no payment came with it
    credit_note(inv)
    ran(connector)

    (note,) = xero.credit_notes.values()
    (allocation,) = xero.sent("PUT", f"/CreditNotes/{note['CreditNoteID']}/Allocations")
    stored = xero.invoice_by_number("INV-2030-000001")
    assert allocation.body == {
        "Allocations": [
            {"Invoice": {"InvoiceID": stored["InvoiceID"]}, "Amount": Decimal("4.00"), "Date": "2030-02-19"}
        ]
    }
    assert (stored["AmountDue"], stored["AmountCredited"]) == (Decimal("7.90"), Decimal("4.00"))
    assert xero.sent("PUT", "/Payments") == []  # nothing left to refund in cash


# --- Contacts


def test_a_changed_customer_updates_their_contact_and_an_erased_one_is_anonymised(xero, connector):
    customer()
    paid(invoice())
    customer(email="ada@lovelace.example", type_="customer.updated")
    customer(email="ada@lovelace.example", type_="customer.updated")  # the same again: nothing to send
    event_emit(
        type="customer.erased",
        payload={"customer": {"id": "cus_1", "email": None, "name": "", "external_id": None}},
        customer_id="cus_1",
    )
    ran(connector)

    (contact_id,) = xero.contacts
    updates = xero.sent("POST", f"/Contacts/{contact_id}")
    assert [c.body["Contacts"][0]["EmailAddress"] for c in updates] == ["ada@lovelace.example", ""]
    assert xero.contacts[contact_id]["Name"] == "Customer (cus_1)"
    assert xero.contacts[contact_id]["FirstName"] == "" and xero.contacts[contact_id]["AccountNumber"] == ""


def test_a_customer_who_never_pays_is_not_a_contact(xero, connector):
    customer()
    event_emit(
        type="subscription.created",
        payload={"subscription": {"id": "sub_1", "status": "trialing"}},
        customer_id="cus_1",
    )
    ran(connector)
    assert xero.contacts == {} and xero.calls == []  # not even a token: nothing to send


# --- OAuth2


@pytest.mark.postgres  # SQLite has one writer: there the tokens are saved in the runner's transaction
def test_the_rotated_refresh_token_survives_a_failing_event_and_the_next_run_uses_it(xero, connector):
    customer()
    paid(invoice())
    xero.fail_next(500)  # the contact call fails after the refresh: the event's savepoint rolls back

    assert "500" in connector_run(connector=connector).error
    assert xero.used_refresh_tokens == [REFRESH_TOKEN] and xero.refresh_token == "xrt-rotated-1"
    assert ConnectorToken.objects.get(connector_id=connector.pk).tokens["refresh_token"] == "xrt-rotated-1"

    xero.expire_access_tokens()  # and the next run must refresh again: with the rotated token
    ran(connector, force=True)
    assert [c.body["refresh_token"] for c in xero.token_calls()] == [REFRESH_TOKEN, "xrt-rotated-1"]
    assert all(c.status == 200 for c in xero.token_calls())
    assert len(xero.invoices) == 1


class Crash(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


@pytest.mark.postgres
def test_a_crash_right_after_the_refresh_keeps_the_new_tokens(xero, connector, monkeypatch):
    from integrations.connectors.xero import XeroClient

    customer()
    paid(invoice())
    refresh = XeroClient.refresh

    def refresh_then_crash(self):
        refresh(self)
        raise Crash

    monkeypatch.setattr(XeroClient, "refresh", refresh_then_crash)
    with pytest.raises(Crash):
        connector_run(connector=connector)
    monkeypatch.setattr(XeroClient, "refresh", refresh)

    assert xero.refresh_token == "xrt-rotated-1"
    assert refreshed(connector).cursor_event_id == ""  # the runner's transaction is gone
    ran(connector)  # the stored access token is still good: no refresh, no invalid_grant
    assert len(xero.token_calls()) == 1 and len(xero.invoices) == 1


def test_an_access_token_expiring_mid_run_is_refreshed_once_and_the_call_sent_again(xero, connector):
    customer()
    paid(invoice())
    customer(cid="cus_2", email="grace@example.com", name="Grace Hopper")
    paid(invoice("inv_2", "INV-2", cid="cus_2"), payment_id="pay_2")
    xero.fail_next(401)  # the first API call finds its token expired

    ran(connector)

    assert [c.status for c in xero.calls] == [200, 401, 200, 200, 200, 200, 200, 200, 200]
    assert [c.path for c in xero.calls[:4]] == ["/connect/token", "/Contacts", "/connect/token", "/Contacts"]
    assert xero.calls[1].body == xero.calls[3].body and xero.calls[1].authorization != xero.calls[3].authorization
    assert len(xero.contacts) == 2 and len(xero.invoices) == 2


def test_a_second_401_just_after_a_refresh_is_unauthorized(xero, connector):
    customer()
    paid(invoice())
    xero.fail_next(401, times=2)

    result = connector_run(connector=connector)

    assert "refused a freshly refreshed access token (401)" in result.error
    assert [c.path for c in xero.calls] == ["/connect/token", "/Contacts", "/connect/token", "/Contacts"]
    assert refreshed(connector).status == "failing"


def test_a_token_expiring_within_a_minute_is_refreshed_before_the_call(xero, connector):
    customer()
    paid(invoice())
    with time_machine.travel(timezone.now(), tick=False) as clock:
        ran(connector)
        paid(invoice("inv_2", "INV-2"), payment_id="pay_2")
        clock.shift(timedelta(seconds=1800 - 59))
        ran(connector)
    assert [c.status for c in xero.calls if c.status != 200] == []
    assert len(xero.token_calls()) == 2


def test_a_refused_refresh_token_asks_the_operator_to_connect_again(xero, connector):
    Connector.objects.filter(pk=connector.pk).update(
        credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": "xrt-revoked"}
    )
    customer()
    paid(invoice())
    result = connector_run(connector=connector)
    assert "invalid_grant" in result.error and "connect the app to Xero again" in result.error
    assert "xrt-revoked" not in result.error


def test_a_new_refresh_token_entered_by_the_operator_replaces_the_rotated_one(xero, connector):
    customer()
    paid(invoice())
    ran(connector)
    xero.refresh_token = "xrt-reconnected"  # the operator connected the app again
    xero.expire_access_tokens()
    connector_update(connector=connector, credentials={"refresh_token": "xrt-reconnected"})
    paid(invoice("inv_2", "INV-2"), payment_id="pay_2")
    ran(connector)
    assert [c.body["refresh_token"] for c in xero.token_calls()] == [REFRESH_TOKEN, "xrt-reconnected"]


def test_tokens_are_encrypted_at_rest_and_never_logged(xero, connector, caplog):
    caplog.set_level(logging.DEBUG)
    customer()
    paid(invoice())
    xero.fail_next(429, retry_after="5")
    connector_run(connector=connector)
    connector_run(connector=connector, force=True)
    (access,) = xero.access_tokens
    with connection.cursor() as cursor:
        cursor.execute("SELECT tokens FROM integrations_connectortoken WHERE connector_id = %s", [connector.pk])
        (raw,) = cursor.fetchone()
    secrets = (access, xero.refresh_token, REFRESH_TOKEN, CLIENT_SECRET)
    assert not [secret for secret in secrets if secret in raw]
    assert not [secret for secret in secrets if secret in caplog.text]
    assert not [secret for secret in secrets if secret in refreshed(connector).last_error]


# --- Xero's errors


def test_a_429_backs_off_as_told_and_the_same_event_is_sent_again_once(xero, connector):
    customer()
    paid(invoice())
    with time_machine.travel(timezone.now(), tick=False) as clock:
        xero.calls.clear()
        xero.fail_next(429, retry_after="30", problem="minute")
        connector_run(connector=connector)  # the contact call is refused
        failing = refreshed(connector)
        assert "Xero rate limit (429) on POST /Contacts, retry after 30s (minute limit)" in failing.last_error
        assert failing.next_attempt_at == timezone.now() + timedelta(seconds=30)
        clock.shift(timedelta(seconds=29))
        assert connector_run(connector=connector).skipped == "not due"
        clock.shift(timedelta(seconds=1))
        ran(connector)
    assert [(c.path, c.status) for c in xero.calls] == [
        ("/connect/token", 200),
        ("/Contacts", 429),
        ("/Contacts", 200),
        ("/Invoices", 200),
        ("/Payments", 200),
    ]
    assert len(xero.contacts) == 1 and len(xero.invoices) == 1


def test_a_failure_after_the_invoice_was_made_sends_it_again_under_its_key_without_a_duplicate(xero, connector):
    customer()
    paid(invoice())
    xero.calls.clear()

    def fail_payments(method, path, body, route=xero._route):
        if path == "/Payments" and not getattr(fail_payments, "done", False):
            fail_payments.done = True
            return xero._json(503, {"Title": "Service Unavailable", "Status": 503})
        return route(method, path, body)

    xero._route = fail_payments
    assert "503" in connector_run(connector=connector).error
    ran(connector, force=True)

    invoice_calls = [c for c in xero.calls if c.path == "/Invoices"]
    assert (
        len(invoice_calls) == 2
        and invoice_calls[0].headers["Idempotency-Key"] == invoice_calls[1].headers["Idempotency-Key"]
    )
    assert len(xero.invoices) == 1 and len(xero.contacts) == 1 and len(xero.payments) == 1


def test_a_validation_exception_is_shown_with_xeros_messages(xero, connector):
    customer()
    paid(invoice())
    xero.fail_next(400, messages=["Email address must be valid.", "Contact name is too long."])
    result = connector_run(connector=connector)
    assert "400 ValidationException" in result.error
    assert "Email address must be valid.; Contact name is too long." in result.error


def test_a_wrong_tenant_is_refused_by_xero_and_shown_as_such(xero, connector):
    xero_settings_update(connector=connector, values={"tenant_id": "00000000-0000-4000-8000-000000000000"})
    customer()
    paid(invoice())
    result = connector_run(connector=connector)
    assert "403" in result.error and "tenant id" in result.error


def test_a_xero_connector_is_enabled_only_with_its_tenant_and_says_which_credentials_are_missing(xero, settled):
    from integrations.connectors.services import connector_enable

    bare = connector_create(kind="xero", name="Ledger", credentials={"client_id": CLIENT_ID})
    with pytest.raises(InvalidRequest) as refused:
        connector_enable(connector=bare)
    assert refused.value.param == "tenant_id" and "mapping screen" in refused.value.message
    xero_settings_update(connector=bare, values={"tenant_id": TENANT_ID})
    enabled = connector_enable(connector=bare)
    customer()
    assert "needs its client_secret, refresh_token" in connector_run(connector=enabled).error
    with pytest.raises(InvalidRequest):  # an enabled connector keeps its tenant
        xero_settings_update(connector=enabled, values={"tenant_id": ""})


# --- The settings service


@pytest.mark.parametrize(
    ("values", "param"),
    [
        ({"tenant_id": "my-company"}, "tenant_id"),
        ({"token_url": "ftp://identity.example"}, "token_url"),
        ({"default_account_code": "200 Sales"}, "default_account_code"),
        ({"payment_account_code": "x" * 11}, "payment_account_code"),
        ({"default_tax_type": "output 2"}, "default_tax_type"),
        ({"plan_account_codes": {"stream monthly": "200"}}, "plan_account_codes"),
        ({"plan_account_codes": {"stream-monthly": ""}}, "plan_account_codes"),
        ({"tax_types": [{"tax_status": "exempt", "tax_type": "NONE"}]}, "tax_types"),
        ({"tax_types": [{"tax_status": "collecting", "country": "Germany", "tax_type": "OUTPUT2"}]}, "tax_types"),
        ({"tax_types": [{"tax_status": "collecting", "rate": "1.5", "tax_type": "OUTPUT2"}]}, "tax_types"),
        ({"tax_types": [{"tax_status": "collecting", "rate": "19%"}]}, "tax_types"),
        (
            {
                "tax_types": [
                    {"tax_status": "collecting", "rate": "19%", "tax_type": "A"},
                    {"tax_status": "collecting", "rate": "0.19", "tax_type": "B"},
                ]
            },
            "tax_types",
        ),
    ],
)
def test_the_settings_service_refuses_what_xero_would_not_take(xero, values, param):
    connector = connector_create(kind="xero", name="Ledger")
    with pytest.raises(InvalidRequest) as refused:
        xero_settings_update(connector=connector, values=values)
    assert refused.value.param == param
    assert refreshed(connector).settings == connector.settings


def test_the_settings_service_normalizes_what_it_keeps(xero):
    connector = connector_create(kind="xero", name="Ledger")
    saved = xero_settings_update(
        connector=connector,
        values={
            "tenant_id": TENANT_ID.upper(),
            "default_tax_type": "exemptoutput",
            "tax_types": [{"tax_status": "collecting", "country": "de", "rate": "19%", "tax_type": "output2"}],
        },
    )
    assert saved.settings["tenant_id"] == TENANT_ID
    assert saved.settings["default_tax_type"] == "EXEMPTOUTPUT"
    assert saved.settings["tax_types"] == [
        {"tax_status": "collecting", "country": "DE", "rate": "0.19", "tax_type": "OUTPUT2"}
    ]
    assert saved.settings["base_url"] == "https://api.xero.com/api.xro/2.0"  # the kind's defaults stay


def test_the_settings_service_is_only_for_xero_connectors(xero):
    other = connector_create(kind="hubspot", name="CRM")
    with pytest.raises(InvalidRequest):
        xero_settings_update(connector=other, values={"default_account_code": "200"})


def test_the_token_form_is_what_xero_documents(xero, connector):
    customer()
    paid(invoice())
    ran(connector)
    (token,) = xero.token_calls()
    assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token.body == {"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}
    assert "xero-tenant-id" not in token.headers or token.headers["xero-tenant-id"] == ""
