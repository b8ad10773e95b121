"""The tax of invoices, end to end through the HTTP API and `run_billing --as-of`: nothing taxed
without a registration; an OSS registration taxing each member state's consumers at its own rate
(worked examples checked by hand); inclusive and exclusive prices, the gateway charging the
total; evidence agreeing and conflicting; the reverse charge; JPY and KWD digits; passes,
upgrades and zero invoices; a rate change between two renewals; a refund's credit note; the
invoice events carrying the tax; and the set-based renewal path taxing exactly as one by one."""

import datetime as dt
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from integrations.kernel import clock
from payments.models import Customer, Invoice
from payments.tax.services import tax_rate_add
from payments.tests.factories import CustomerFactory
from payments.tests.tax_helpers import shipped_rates_loaded
from plans import billing as billing_engine
from plans.models import Plan, Subscription
from plans.services.renewal import subscription_bill
from plans.tests.factories import PlanFactory
from tests.coupon_helpers import created as coupon_created
from tests.subscription_helpers import START, attach_card, checkout, make_default

pytestmark = pytest.mark.django_db

FR_CARD, DE_CARD, US_CARD = "4000002500000003", "4000002760000016", "4242424242424242"


def eur(amount: str) -> dict:
    return {"amount": amount, "currency": "EUR"}


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
    return response.json()


def _bought(billing, customer, plan, number, **extra) -> dict:
    app = billing.app(customer)
    card = attach_card(app, number)
    response = checkout(app, plan, card, **extra)
    assert response.status_code == 201, response.content
    return response.json()


def _invoice(billing, invoice_id: str) -> dict:
    response = billing.operator.get(f"/api/v1/invoices/{invoice_id}")
    assert response.status_code == 200, response.content
    return response.json()


def _line(invoice: dict) -> dict:
    (line,) = invoice["lines"]
    return {key: line[key] for key in ("amount", "discount", "net", "tax_rate", "tax", "total")}


# --- Off until a region is registered


def test_without_a_registration_nothing_is_taxed(billing, monthly):
    bought = _bought(billing, CustomerFactory(country="FR"), monthly, FR_CARD)

    invoice = _invoice(billing, bought["invoice"]["id"])
    assert (invoice["tax"], invoice["total"], invoice["tax_breakdown"]) == (eur("0.00"), eur("9.99"), [])
    assert invoice["tax_status"] == "not_registered" and invoice["reverse_charge"] is False
    assert _line(invoice) == {
        "amount": eur("9.99"),
        "discount": eur("0.00"),
        "net": eur("9.99"),
        "tax_rate": "0",
        "tax": eur("0.00"),
        "total": eur("9.99"),
    }


# --- The worked examples


@pytest.mark.parametrize(
    ("country", "number", "rate", "net", "tax"),
    [("DE", DE_CARD, "0.19", "8.39", "1.60"), ("FR", FR_CARD, "0.2", "8.33", "1.66")],
)
def test_an_oss_registration_taxes_an_inclusive_price_at_the_consumers_rate(
    billing, oss, monthly, country, number, rate, net, tax
):
    bought = _bought(billing, CustomerFactory(country=country), monthly, number, ip_country=country)

    invoice = _invoice(billing, bought["invoice"]["id"])
    assert _line(invoice) == {
        "amount": eur("9.99"),
        "discount": eur("0.00"),
        "net": eur(net),
        "tax_rate": rate,
        "tax": eur(tax),
        "total": eur("9.99"),
    }
    assert (invoice["subtotal"], invoice["discount"], invoice["tax"], invoice["total"]) == (
        eur("9.99"),
        eur("0.00"),
        eur(tax),
        eur("9.99"),
    )
    assert invoice["tax_inclusive"] is True and invoice["tax_status"] == "collecting"
    assert invoice["tax_breakdown"] == [
        {
            "country": country,
            "subdivision": None,
            "rate": rate,
            "taxable": eur(net),
            "tax": eur(tax),
            "reverse_charge": False,
        }
    ]
    assert invoice["tax_evidence"] == {
        "billing_country": country,
        "card_country": country,
        "ip_country": country,
        "conclusive": True,
    }
    assert bought["payment"]["amount"] == eur("9.99")  # inclusive prices keep their gross


def test_an_exclusive_price_has_the_tax_added_and_the_gateway_charges_the_total(billing, oss):
    plan = PlanFactory(code="exclusive", tax_behavior="exclusive", prices=[{"amount": "10.00", "currency": "EUR"}])

    bought = _bought(billing, CustomerFactory(country="DE"), plan, DE_CARD)

    invoice = _invoice(billing, bought["invoice"]["id"])
    assert _line(invoice) == {
        "amount": eur("10.00"),
        "discount": eur("0.00"),
        "net": eur("10.00"),
        "tax_rate": "0.19",
        "tax": eur("1.90"),
        "total": eur("11.90"),
    }
    assert (invoice["subtotal"], invoice["tax"], invoice["total"], invoice["tax_inclusive"]) == (
        eur("10.00"),
        eur("1.90"),
        eur("11.90"),
        False,
    )
    payment = billing.operator.get(f"/api/v1/payments/{bought['payment']['id']}").json()
    assert (payment["amount"], payment["status"]) == (eur("11.90"), "succeeded")


@pytest.mark.parametrize(
    ("currency", "country", "price", "net", "tax"),
    [("JPY", "DE", "2000", "1681", "319"), ("KWD", "AT", "3.500", "2.917", "0.583")],
)
def test_zero_and_three_digit_currencies_are_taxed_in_their_minor_unit(
    billing, oss, currency, country, price, net, tax
):
    plan = PlanFactory(code=f"digits-{currency.lower()}", prices=[{"amount": price, "currency": currency}])
    customer = CustomerFactory(country=country, currency=currency)

    bought = _bought(billing, customer, plan, DE_CARD)

    line = _line(_invoice(billing, bought["invoice"]["id"]))
    assert (line["net"], line["tax"], line["total"]) == (
        {"amount": net, "currency": currency},
        {"amount": tax, "currency": currency},
        {"amount": price, "currency": currency},
    )


@pytest.mark.parametrize(
    ("country", "rate", "net", "tax"), [("AT", "0.1", "9.08", "0.91"), ("DE", "0.19", "8.39", "1.60")]
)
def test_a_broadcasting_plan_is_taxed_at_the_lower_rate_where_a_country_has_one(billing, oss, country, rate, net, tax):
    created = billing.operator.post(
        "/api/v1/plans",
        {
            "code": "linear-tv",
            "name": "Linear TV",
            "kind": "recurring",
            "interval": "month",
            "tax_category": "broadcasting",
            "prices": [{"amount": "9.99", "currency": "EUR"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    plan = Plan.objects.get(pk=created.json()["id"])

    bought = _bought(billing, CustomerFactory(country=country), plan, DE_CARD)

    line = _line(_invoice(billing, bought["invoice"]["id"]))
    assert (line["tax_rate"], line["net"], line["tax"]) == (rate, eur(net), eur(tax))  # Austria: 10% on broadcasting


# --- Evidence


@pytest.mark.parametrize(
    ("number", "ip_country", "conclusive"),
    [
        (FR_CARD, "", True),  # billing and card agree
        (DE_CARD, "FR", True),  # billing and IP agree
        (DE_CARD, "", False),  # the card says otherwise, nothing backs the billing country
        (DE_CARD, "DE", False),  # two pieces agree, against the billing country
    ],
)
def test_evidence_is_stored_and_the_billing_country_decides_even_when_it_is_inconclusive(
    billing, oss, monthly, number, ip_country, conclusive
):
    extra = {"ip_country": ip_country} if ip_country else {}

    bought = _bought(billing, CustomerFactory(country="FR"), monthly, number, **extra)

    invoice = _invoice(billing, bought["invoice"]["id"])
    assert invoice["tax_evidence"]["conclusive"] is conclusive
    assert invoice["tax_evidence"]["ip_country"] == (ip_country or None)
    assert invoice["tax_breakdown"][0]["country"] == "FR" and invoice["tax"] == eur("1.66")
    assert Invoice.objects.get(pk=invoice["id"]).tax_evidence_conclusive is conclusive


# --- Business customers


def _verified_business(country: str, vat_id: str) -> Customer:
    customer = CustomerFactory(country=country, business_name="Exemple SARL")
    Customer.objects.filter(pk=customer.pk).update(
        tax_id=vat_id, tax_id_country=country, tax_id_status="verified", tax_id_verified_at=timezone.now()
    )
    customer.refresh_from_db()
    return customer


@override_settings(TAX_SELLER_COUNTRY="DE")
@pytest.mark.parametrize(
    ("behavior", "price", "total"), [("inclusive", "9.99", "9.99"), ("exclusive", "10.00", "10.00")]
)
def test_a_verified_vat_id_of_another_member_state_is_reverse_charged(billing, oss, behavior, price, total):
    plan = PlanFactory(code=f"b2b-{behavior}", tax_behavior=behavior, prices=[{"amount": price, "currency": "EUR"}])

    bought = _bought(billing, _verified_business("FR", "FR40303265045"), plan, FR_CARD)

    invoice = _invoice(billing, bought["invoice"]["id"])
    assert (invoice["tax"], invoice["total"], invoice["reverse_charge"]) == (eur("0.00"), eur(total), True)
    assert invoice["tax_breakdown"] == [
        {
            "country": "FR",
            "subdivision": None,
            "rate": "0",
            "taxable": eur(total),
            "tax": eur("0.00"),
            "reverse_charge": True,
        }
    ]
    assert invoice["buyer"] == {"business_name": "Exemple SARL", "tax_id": "FR40303265045"}
    assert bought["payment"]["amount"] == eur(total)


@override_settings(TAX_SELLER_COUNTRY="DE")
def test_an_unverified_vat_id_is_taxed_as_a_consumer(billing, oss, monthly):
    customer = _verified_business("FR", "FR40303265045")
    Customer.objects.filter(pk=customer.pk).update(tax_id_status="unverified", tax_id_verified_at=None)

    bought = _bought(billing, customer, monthly, FR_CARD)

    invoice = _invoice(billing, bought["invoice"]["id"])
    assert (invoice["tax"], invoice["reverse_charge"]) == (eur("1.66"), False)


# --- Passes, upgrades, zero invoices


def test_a_pass_is_taxed(billing, oss, event_pass):
    bought = _bought(billing, CustomerFactory(country="DE"), event_pass, DE_CARD)

    assert _line(_invoice(billing, bought["invoice"]["id"]))["tax"] == eur("1.60")


def test_an_upgrades_prorated_invoice_is_taxed_after_its_credit(billing, oss, monthly, premium):
    customer = CustomerFactory(country="DE")
    bought = _bought(billing, customer, monthly, DE_CARD)
    billing.travel(START + timedelta(days=15))

    response = billing.app(customer).post(
        f"/api/v1/me/subscriptions/{bought['subscription']['id']}/change-plan", {"plan": premium.id}, format="json"
    )

    assert response.status_code == 200, response.content
    upgrade = Invoice.objects.filter(customer=customer, description=premium.name).get()
    due = upgrade.total.amount
    assert Decimal("0") < due < Decimal("19.99")
    assert upgrade.tax_total.amount == due - (due / Decimal("1.19")).quantize(Decimal("0.01"))
    assert upgrade.lines.get().tax_rate == Decimal("0.19")


def test_a_fully_discounted_invoice_is_a_zero_invoice_with_zero_tax(billing, oss, monthly):
    coupon_created(billing.operator, code="FREEMONTH", discount={"type": "percent", "percent_off": "100"})

    bought = _bought(billing, CustomerFactory(country="DE"), monthly, DE_CARD, coupon_code="FREEMONTH")

    invoice = _invoice(billing, bought["invoice"]["id"])
    assert (invoice["discount"], invoice["tax"], invoice["total"], invoice["status"]) == (
        eur("9.99"),
        eur("0.00"),
        eur("0.00"),
        "paid",
    )
    assert _line(invoice)["net"] == eur("0.00") and _line(invoice)["tax_rate"] == "0.19"


# --- Renewals over a rate change, through run_billing --as-of


def test_a_rate_change_between_two_renewals_taxes_each_at_the_rate_of_its_day(billing, oss, monthly):
    customer = CustomerFactory(country="DE")
    _bought(billing, customer, monthly, DE_CARD)
    tax_rate_add(
        country="DE",
        name="VAT",
        rate="0.21",
        valid_from=dt.date(2030, 3, 1),
        source="A test's rate change",
        source_date=dt.date(2030, 1, 1),
    )

    billing.run(START.replace(month=2))
    billing.run(START.replace(month=3))

    listed = billing.operator.get("/api/v1/invoices", {"customer": customer.id}).json()["results"]
    taxed = sorted((invoice["created_at"], _line(invoice)) for invoice in listed)
    assert [(line["tax_rate"], line["net"], line["tax"], line["total"]) for _, line in taxed] == [
        ("0.19", eur("8.39"), eur("1.60"), eur("9.99")),  # the first invoice, January
        ("0.19", eur("8.39"), eur("1.60"), eur("9.99")),  # February's renewal
        ("0.21", eur("8.26"), eur("1.73"), eur("9.99")),  # March's, after the change
    ]
    assert all(invoice["status"] == "paid" for invoice in listed)


# --- A refund's credit note


def test_a_refunds_credit_note_reverses_the_refunded_share_of_the_tax(billing, oss, monthly):
    bought = _bought(billing, CustomerFactory(country="FR"), monthly, FR_CARD)

    refunded = billing.operator.post(
        f"/api/v1/payments/{bought['payment']['id']}/refunds", {"amount": eur("5.00")}, format="json"
    )

    assert refunded.status_code == 201, refunded.content
    invoice = _invoice(billing, bought["invoice"]["id"])
    note = billing.operator.get(f"/api/v1/credit-notes/{invoice['credit_notes'][0]}").json()
    # 5.00 of 9.99 whose tax is 1.66: 5.00 x 1.66 / 9.99 = 0.83
    assert (note["subtotal"], note["tax"], note["total"]) == (eur("4.17"), eur("0.83"), eur("5.00"))
    assert note["tax_breakdown"] == [
        {
            "country": "FR",
            "subdivision": None,
            "rate": "0.2",
            "taxable": eur("4.17"),
            "tax": eur("0.83"),
            "reverse_charge": False,
        }
    ]


# --- Events


def test_invoice_events_carry_the_tax(billing, oss, monthly):
    bought = _bought(billing, CustomerFactory(country="FR"), monthly, FR_CARD)

    events = billing.operator.get("/api/v1/events", {"type": "invoice.paid"}).json()["results"]

    (paid,) = [e for e in events if e["data"]["invoice"]["id"] == bought["invoice"]["id"]]
    invoice = paid["data"]["invoice"]
    assert (invoice["tax"], invoice["tax_breakdown"][0]["rate"], invoice["lines"][0]["net"]) == (
        eur("1.66"),
        "0.2",
        eur("8.33"),
    )


# --- The set-based renewal path taxes exactly as the one-by-one path

CASES = [
    # (country, card, business VAT id or None, plan)
    ("DE", DE_CARD, None, "inclusive"),
    ("FR", FR_CARD, None, "inclusive"),
    ("AT", DE_CARD, None, "inclusive"),  # inconclusive evidence
    ("IT", US_CARD, None, "exclusive"),
    ("FR", FR_CARD, "FR40303265045", "inclusive"),  # reverse charge
    ("US", US_CARD, None, "exclusive"),  # outside the OSS: not registered
]


def _renewal_shape(invoice: Invoice) -> tuple:
    lines = [
        (line.description, line.unit_amount, line.discount_amount, line.net, line.tax_rate, line.tax_amount, line.total)
        for line in invoice.lines.order_by("position")
    ]
    return (
        invoice.status,
        invoice.subtotal,
        invoice.discount_total,
        invoice.tax_total,
        invoice.total,
        invoice.tax_inclusive,
        invoice.tax_status,
        invoice.tax_country,
        invoice.tax_registration_id,
        invoice.billing_country,
        invoice.card_country,
        invoice.ip_country,
        invoice.tax_evidence_conclusive,
        invoice.buyer_tax_id,
        lines,
    )


@override_settings(TAX_SELLER_COUNTRY="DE")
def test_the_set_based_renewal_path_taxes_exactly_as_the_one_by_one_path(billing, oss, monkeypatch):
    plans = {
        behavior: PlanFactory(
            code=f"renew-{behavior}", tax_behavior=behavior, prices=[{"amount": "9.99", "currency": "EUR"}]
        )
        for behavior in ("inclusive", "exclusive")
    }
    pairs = []
    for country, number, vat_id, behavior in CASES:
        pair = []
        for _ in ("one by one", "set-based"):
            customer = _verified_business(country, vat_id) if vat_id else CustomerFactory(country=country)
            app = billing.app(customer)
            card = attach_card(app, number)
            make_default(app, card)
            response = checkout(app, plans[behavior], card)
            assert response.status_code == 201, response.content
            pair.append(response.json()["subscription"]["id"])
        pairs.append(pair)
    as_of = START.replace(month=2)
    billing.travel(as_of)

    with billing.capture(execute=True), clock.running_at(as_of):  # the one-by-one path, one subscription at a time
        outcomes = [subscription_bill(subscription_id=one, as_of=as_of) for one, _ in pairs]
    batched = []
    issue_batch = billing_engine.invoices_issue_batch

    def spy(*, specs):
        batched.extend(spec.source.split(":")[0] for spec in specs)
        return issue_batch(specs=specs)

    monkeypatch.setattr(billing_engine, "invoices_issue_batch", spy)
    billing.run(as_of)  # the rest through the engine, which takes them set-based

    assert outcomes == ["renewing"] * len(CASES)
    assert sorted(batched) == sorted(batch for _, batch in pairs)
    for one, batch in pairs:
        renewals = [
            Subscription.objects.get(pk=sub_id).invoice_links.get(purpose="renewal").invoice for sub_id in (one, batch)
        ]
        assert _renewal_shape(renewals[0]) == _renewal_shape(renewals[1])
        assert renewals[0].status == Invoice.Status.PAID
    statuses = {
        Subscription.objects.get(pk=one).invoice_links.get(purpose="renewal").invoice.tax_status for one, _ in pairs
    }
    assert statuses == {"collecting", "reverse_charge", "not_registered"}
