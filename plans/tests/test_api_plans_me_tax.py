"""GET /api/v1/me/plans and POST /api/v1/me/coupons/validate show prices as the customer will pay
them: `price` as the plan is priced, `price_tax` {rate, amount, inclusive} where tax applies to
this customer (collected, or reverse-charged at 0) and `price_total`, what they pay. Worked by
hand: 9.99 EUR inclusive in DE = 8.39 + 1.60; in FR = 8.33 + 1.66; 10.00 exclusive in DE = 11.90;
Quebec 5% GST + 9.975% QST = 0.14975. The tax table is read once per request, not once per plan."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import client_for_customer
from coupons.services import coupon_create
from integrations.kernel import clock
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from payments.tests.tax_helpers import registration, shipped_rates_loaded
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rates(db, settings):
    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()


def eur(amount: str) -> dict:
    return {"amount": amount, "currency": "EUR"}


def _plan(amount="9.99", currency="EUR", behavior="inclusive", **overrides):
    return PlanFactory(prices=[{"amount": amount, "currency": currency}], tax_behavior=behavior, **overrides)


def _priced(client, query: str = "") -> dict:
    response = client.get(f"/api/v1/me/plans{query}")
    assert response.status_code == 200, response.content
    return {plan["id"]: plan for plan in response.json()["results"]}


def _reverse_charged_business(country="FR", tax_id="FR40303265045", currency="EUR"):
    """A business whose VAT id VIES confirmed, set directly as the verification would set it."""
    return CustomerFactory(
        country=country,
        currency=currency,
        business_name="ACME SA",
        tax_id=tax_id,
        tax_id_country=country,
        tax_id_status="verified",
        tax_id_verified_at=timezone.now(),
    )


# --- /me/plans


def test_without_a_registration_a_plan_shows_no_tax_and_its_price_as_the_total(customer_client):
    plan = _plan("9.99")

    body = _priced(customer_client)[plan.id]

    assert body["price"] == eur("9.99")
    assert body["price_tax"] is None
    assert body["price_total"] == eur("9.99")


def test_an_exclusive_price_without_a_registration_is_charged_as_priced(customer_client):
    plan = _plan("10.00", behavior="exclusive")

    body = _priced(customer_client)[plan.id]

    assert (body["price_tax"], body["price_total"]) == (None, eur("10.00"))


def test_in_germany_an_inclusive_price_keeps_its_gross_with_19_percent_in_it(customer_client):
    registration(country="DE", scheme="domestic")
    plan = _plan("9.99")

    body = _priced(customer_client)[plan.id]

    assert body["price"] == eur("9.99")
    assert body["price_tax"] == {"rate": "0.19", "amount": eur("1.60"), "inclusive": True}
    assert body["price_total"] == eur("9.99")


def test_in_germany_an_exclusive_price_has_19_percent_added(customer_client):
    registration(country="DE", scheme="domestic")
    plan = _plan("10.00", behavior="exclusive")

    body = _priced(customer_client)[plan.id]

    assert body["price"] == eur("10.00")
    assert body["price_tax"] == {"rate": "0.19", "amount": eur("1.90"), "inclusive": False}
    assert body["price_total"] == eur("11.90")


def test_the_rate_is_the_one_in_force_on_the_billing_clocks_day(customer_client):
    registration(country="DE", scheme="domestic")
    plan = _plan("10.00", behavior="exclusive")

    with clock.running_at(dt.datetime(2020, 8, 1, tzinfo=dt.UTC)):  # Germany's 16% from July to December 2020
        body = _priced(customer_client)[plan.id]

    assert body["price_tax"] == {"rate": "0.16", "amount": eur("1.60"), "inclusive": False}
    assert body["price_total"] == eur("11.60")


def test_a_french_consumer_under_the_eu_oss_pays_the_french_rate(db):
    registration(country="DE", scheme="eu_oss")
    plan = _plan("9.99")
    client = client_for_customer(CustomerFactory(country="FR"))

    body = _priced(client)[plan.id]

    assert body["price_tax"] == {"rate": "0.2", "amount": eur("1.66"), "inclusive": True}
    assert body["price_total"] == eur("9.99")


def test_a_country_asked_for_is_taxed_at_that_countrys_rate(customer_client):
    registration(country="DE", scheme="eu_oss")
    plan = _plan("10.00", behavior="exclusive")

    body = _priced(customer_client, "?country=FR")[plan.id]

    assert body["price_tax"] == {"rate": "0.2", "amount": eur("2.00"), "inclusive": False}
    assert body["price_total"] == eur("12.00")


def test_a_country_where_the_seller_is_not_registered_shows_no_tax(customer_client):
    registration(country="DE", scheme="domestic")
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "1500", "currency": "JPY"}])

    body = _priced(customer_client, "?country=JP")[plan.id]

    assert body["price"] == {"amount": "1500", "currency": "JPY"}
    assert body["price_tax"] is None
    assert body["price_total"] == {"amount": "1500", "currency": "JPY"}


@pytest.mark.parametrize(("behavior", "total"), [("inclusive", "9.99"), ("exclusive", "9.99")])
def test_a_verified_vat_id_of_another_member_state_is_reverse_charged_at_0(db, behavior, total):
    registration(country="DE", scheme="eu_oss")
    plan = _plan("9.99", behavior=behavior)
    client = client_for_customer(_reverse_charged_business())

    body = _priced(client)[plan.id]

    assert body["price_tax"] == {"rate": "0", "amount": eur("0.00"), "inclusive": behavior == "inclusive"}
    assert body["price_total"] == eur(total)


def test_an_unverified_vat_id_is_taxed_as_a_consumer(db):
    registration(country="DE", scheme="eu_oss")
    plan = _plan("10.00", behavior="exclusive")
    business = CustomerFactory(country="FR", tax_id="FR40303265045", tax_id_country="FR", tax_id_status="unverified")

    body = _priced(client_for_customer(business))[plan.id]

    assert body["price_tax"]["rate"] == "0.2"
    assert body["price_total"] == eur("12.00")


@pytest.mark.parametrize(
    ("behavior", "price", "tax", "total"),
    [("inclusive", "1500", "239", "1500"), ("exclusive", "1000", "190", "1190")],
)
def test_yen_prices_are_taxed_in_whole_yen(db, behavior, price, tax, total):
    registration(country="DE", scheme="domestic")
    plan = _plan(price, currency="JPY", behavior=behavior)
    client = client_for_customer(CustomerFactory(country="DE", currency="JPY"))

    body = _priced(client)[plan.id]

    assert body["price_tax"]["amount"] == {"amount": tax, "currency": "JPY"}
    assert body["price_total"] == {"amount": total, "currency": "JPY"}


@pytest.mark.parametrize(
    ("behavior", "tax", "total"),
    [("inclusive", "0.519", "3.250"), ("exclusive", "0.618", "3.868")],
)
def test_dinar_prices_are_taxed_to_the_fils(db, behavior, tax, total):
    registration(country="DE", scheme="domestic")
    plan = _plan("3.25", currency="KWD", behavior=behavior)
    client = client_for_customer(CustomerFactory(country="DE", currency="KWD"))

    body = _priced(client)[plan.id]

    assert body["price"] == {"amount": "3.250", "currency": "KWD"}
    assert body["price_tax"]["amount"] == {"amount": tax, "currency": "KWD"}
    assert body["price_total"] == {"amount": total, "currency": "KWD"}


def _quebec_registered():
    registration(country="CA", scheme="domestic", number="123456789RT0001")
    registration(country="CA", subdivision="CA-QC", scheme="domestic", number="1234567890TQ0001")


def test_a_quebec_customer_pays_gst_and_qst_on_the_net(db):
    _quebec_registered()
    plan = _plan("10.00", currency="CAD", behavior="exclusive")
    client = client_for_customer(CustomerFactory(country="CA", subdivision="QC", currency="CAD"))

    body = _priced(client)[plan.id]

    assert body["price_tax"] == {"rate": "0.14975", "amount": {"amount": "1.50", "currency": "CAD"}, "inclusive": False}
    assert body["price_total"] == {"amount": "11.50", "currency": "CAD"}


def test_a_quebec_customer_asking_for_their_own_country_keeps_their_province(db):
    _quebec_registered()
    plan = _plan("9.99", currency="CAD")
    client = client_for_customer(CustomerFactory(country="CA", subdivision="QC", currency="CAD"))

    body = _priced(client, "?country=ca")[plan.id]

    assert body["price_tax"] == {"rate": "0.14975", "amount": {"amount": "1.30", "currency": "CAD"}, "inclusive": True}


def test_a_canadian_province_of_another_country_does_not_count_there(db):
    """A US customer (in New York) asking for Canada's prices: Canada's federal GST, no province."""
    _quebec_registered()
    plan = _plan("10.00", currency="CAD", behavior="exclusive")
    client = client_for_customer(CustomerFactory(country="US", subdivision="NY", currency="USD"))

    body = _priced(client, "?country=CA")[plan.id]

    assert body["price_tax"] == {"rate": "0.05", "amount": {"amount": "0.50", "currency": "CAD"}, "inclusive": False}
    assert body["price_total"] == {"amount": "10.50", "currency": "CAD"}


def test_a_canadian_customer_without_a_province_pays_the_federal_gst(db):
    _quebec_registered()
    plan = _plan("10.00", currency="CAD", behavior="exclusive")
    client = client_for_customer(CustomerFactory(country="CA", currency="CAD"))

    body = _priced(client)[plan.id]

    assert body["price_tax"]["rate"] == "0.05"


def test_each_plan_is_taxed_per_its_own_behaviour(customer_client):
    registration(country="DE", scheme="domestic")
    inclusive, exclusive = _plan("10.00"), _plan("10.00", behavior="exclusive")

    listed = _priced(customer_client)

    assert (listed[inclusive.id]["price_tax"]["amount"], listed[inclusive.id]["price_total"]) == (
        eur("1.60"),
        eur("10.00"),
    )
    assert (listed[exclusive.id]["price_tax"]["amount"], listed[exclusive.id]["price_total"]) == (
        eur("1.90"),
        eur("11.90"),
    )


def _queries_of_me_plans(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/me/plans").status_code == 200
    return len(queries)


def test_the_query_count_of_me_plans_does_not_grow_with_the_plans(customer_client):
    registration(country="DE", scheme="eu_oss")
    _plan("9.99")
    one = _queries_of_me_plans(customer_client)
    for index in range(5):
        _plan("10.00", behavior="exclusive" if index % 2 else "inclusive")

    six = _queries_of_me_plans(customer_client)

    assert len(_priced(customer_client)) == 6
    assert six == one


# --- /me/coupons/validate: the preview of the first invoice


def _coupon(percent="25"):
    coupon_create(
        name="Spring", kind="single_code", code="SPRING25", discount={"type": "percent", "percent_off": percent}
    )


def _preview(client, plan) -> dict:
    response = client.post("/api/v1/me/coupons/validate", {"code": "SPRING25", "plan": plan.id}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["preview"]


def test_the_preview_of_an_exclusive_plan_adds_the_tax_after_the_discount(customer_client):
    registration(country="DE", scheme="domestic")
    _coupon()
    plan = _plan("10.00", behavior="exclusive")

    preview = _preview(customer_client, plan)

    # 10.00 - 2.50 = 7.50 net; 19% of it is 1.425, rounded half-up to 1.43.
    assert preview == {"subtotal": eur("10.00"), "discount": eur("2.50"), "tax": eur("1.43"), "total": eur("8.93")}


def test_the_preview_of_an_inclusive_plan_charges_the_discounted_price_with_the_tax_in_it(customer_client):
    registration(country="DE", scheme="domestic")
    _coupon()
    plan = _plan("10.00")

    preview = _preview(customer_client, plan)

    assert preview == {"subtotal": eur("10.00"), "discount": eur("2.50"), "tax": eur("1.20"), "total": eur("7.50")}


def test_the_preview_under_the_reverse_charge_has_no_tax(db):
    registration(country="DE", scheme="eu_oss")
    _coupon()
    plan = _plan("10.00", behavior="exclusive")

    preview = _preview(client_for_customer(_reverse_charged_business()), plan)

    assert (preview["tax"], preview["total"]) == (eur("0.00"), eur("7.50"))


def test_the_previewed_total_is_what_checkout_then_charges(customer, customer_client):
    registration(country="DE", scheme="domestic")
    _coupon()
    plan = _plan("10.00", behavior="exclusive")
    card = sandbox_card(customer=customer, account=sandbox_account())
    preview = _preview(customer_client, plan)

    response = customer_client.post(
        "/api/v1/me/checkout", {"plan": plan.id, "payment_method": card.id, "coupon_code": "SPRING25"}, format="json"
    )

    assert response.status_code == 201, response.content
    invoice = response.json()["invoice"]
    assert (invoice["tax"], invoice["total"]) == (preview["tax"], preview["total"])
    assert response.json()["payment"]["amount"] == preview["total"]
