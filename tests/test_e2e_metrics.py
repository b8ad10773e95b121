"""A scripted life of subscribers, driven over HTTP and `run_billing --as-of`, gives the MRR,
movements, churn and trial conversion that the definitions (API.md "Metrics") give by hand; the
movement log that the services wrote as it happened is the one `rebuild_metrics` computes from
history; and the API answers bad parameters with 400s."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from conftest import sign_in_verified, staff_in_role
from coupons.services import coupon_create
from integrations.kernel.api_keys import api_key_create
from payments.models import ExchangeRate
from payments.tests.factories import CustomerFactory
from payments.tests.tax_helpers import registration, shipped_rates_loaded
from plans.models import MetricSnapshot, MrrMovement
from plans.services import Trial
from plans.tests.factories import PlanFactory
from tests.subscription_helpers import START, attach_card, checkout, subscribe
from tests.subscription_lifecycle_helpers import FEB_10, cancel

pytestmark = pytest.mark.django_db

JAN_20 = datetime(2030, 1, 20, 12, 0, tzinfo=UTC)
JAN_25 = datetime(2030, 1, 25, 12, 0, tzinfo=UTC)
FEB_1 = datetime(2030, 2, 1, 12, 0, tzinfo=UTC)
FEB_20 = datetime(2030, 2, 20, 12, 0, tzinfo=UTC)


def eur(amount: str) -> dict:
    return {"amount": amount, "currency": "EUR"}


def metrics(billing, path: str, **params):
    response = billing.operator.get(f"/api/v1/metrics/{path}", params)
    assert response.status_code == 200, response.content
    return response.json()


def change_plan(app, sub_id: str, plan):
    response = app.post(f"/api/v1/me/subscriptions/{sub_id}/change-plan", {"plan": plan.id}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def movement_log() -> list[tuple]:
    return list(
        MrrMovement.objects.order_by("occurred_at", "customer__external_id", "id").values_list(
            "customer__external_id", "kind", "amount", "currency", "occurred_at", "from_trial"
        )
    )


def snapshot_rows() -> list[tuple]:
    fields = [f.name for f in MetricSnapshot._meta.fields if f.name not in ("id", "computed_at")]
    return list(MetricSnapshot.objects.order_by("day", "currency").values_list(*fields))


@pytest.fixture
def world(billing):
    """The catalogue: a monthly basic and premium plan, an annual plan, a plan with a 7-day trial, a
    tax-inclusive plan taxed in France (20%), a forever and a once coupon."""
    shipped_rates_loaded()
    registration(country="FR", scheme="domestic", number="FR40303265045")
    prices = lambda eur_, jpy: [{"amount": eur_, "currency": "EUR"}, {"amount": jpy, "currency": "JPY"}]  # noqa: E731
    plans = {
        "basic": PlanFactory(code="basic", interval="month", prices=prices("10.00", "1000")),
        "premium": PlanFactory(code="premium", interval="month", prices=prices("20.00", "2000")),
        "annual": PlanFactory(code="annual", interval="year", prices=prices("120.00", "12000")),
        "trial": PlanFactory(
            code="trial", interval="month", prices=prices("10.00", "1000"), trial=Trial(length=7, unit="day")
        ),
        "tv": PlanFactory(code="tv", interval="month", prices=[{"amount": "12.00", "currency": "EUR"}]),
    }
    for code, duration in (("FOREVER20", "forever"), ("ONCE50", "once")):
        coupon_create(
            name=code,
            kind="single_code",
            code=code,
            discount={"type": "percent", "percent_off": "20" if duration == "forever" else "50"},
            duration=duration,
        )
    return plans


def customer_app(billing, name: str, country: str = "DE", currency: str = "EUR"):
    return billing.app(CustomerFactory(external_id=name, country=country, currency=currency))


def test_a_scripted_life_gives_the_hand_computed_metrics_over_the_api(billing, world):
    p = world
    # Jan 10: eight subscribers start paying (A..G, J); H and I start trials on Jan 25.
    apps = {name: customer_app(billing, name) for name in ("A", "B", "C", "D", "E", "F", "H", "I")}
    apps["G"] = customer_app(billing, "G", country="JP", currency="JPY")
    apps["J"] = customer_app(billing, "J", country="FR")
    subs = {
        "A": subscribe(apps["A"], p["basic"]),  # 10.00
        "B": subscribe(apps["B"], p["premium"]),  # 20.00
        "C": subscribe(apps["C"], p["basic"]),  # 10.00
        "D": subscribe(apps["D"], p["annual"]),  # 120.00 / 12 = 10.00
        "G": subscribe(apps["G"], p["basic"]),  # 1000 JPY
        "J": subscribe(apps["J"], p["tv"]),  # 12.00 inclusive of 20% FR VAT: net round(12.00 / 1.20) = 10.00
    }
    for name, code in (("E", "FOREVER20"), ("F", "ONCE50")):
        response = checkout(apps[name], p["basic"], attach_card(apps[name]), coupon_code=code)
        assert response.status_code == 201, response.content
        subs[name] = response.json()["subscription"]
    # E: 10.00 less the forever 20% = 8.00; F: the once 50% is not deducted, 10.00.

    billing.travel(START + timedelta(days=2))
    cancel(apps["C"], subs["C"]["id"])  # at the period end: churns on Feb 10
    billing.travel(START + timedelta(days=5))
    change_plan(apps["B"], subs["B"]["id"], p["basic"])  # downgrade 20.00 -> 10.00 at the renewal of Feb 10
    billing.travel(JAN_20)
    change_plan(apps["A"], subs["A"]["id"], p["premium"])  # upgrade now: 10.00 -> 20.00, expansion 10.00

    billing.travel(JAN_25)
    subs["H"] = subscribe(apps["H"], p["trial"])  # trial to Feb 1, then 10.00
    subs["I"] = subscribe(apps["I"], p["trial"])
    cancel(apps["I"], subs["I"]["id"])  # the trial ends on Feb 1 without converting
    billing.run(FEB_1)
    billing.run(FEB_10)  # renewals: B's downgrade takes effect, C churns
    billing.travel(FEB_20)
    subscribe(apps["C"], p["basic"])  # C pays again: reactivation 10.00
    billing.run(FEB_20 + timedelta(minutes=5))  # A's renewal at the upgraded price: no movement

    jan_10, feb_1, feb_10 = START, FEB_1, FEB_10
    live = movement_log()
    assert [(who, kind, f"{amount:.2f}", currency, at) for who, kind, amount, currency, at, _ in live] == [
        ("A", "new", "10.00", "EUR", jan_10),
        ("B", "new", "20.00", "EUR", jan_10),
        ("C", "new", "10.00", "EUR", jan_10),
        ("D", "new", "10.00", "EUR", jan_10),
        ("E", "new", "8.00", "EUR", jan_10),
        ("F", "new", "10.00", "EUR", jan_10),
        ("G", "new", "1000.00", "JPY", jan_10),
        ("J", "new", "10.00", "EUR", jan_10),
        ("A", "expansion", "10.00", "EUR", JAN_20),
        ("H", "new", "10.00", "EUR", feb_1),
        ("B", "contraction", "10.00", "EUR", feb_10),
        ("C", "churn", "10.00", "EUR", feb_10),
        ("C", "reactivation", "10.00", "EUR", FEB_20),
    ]
    assert [who for who, *_, from_trial in live if from_trial] == ["H"]

    # The log from history is the log the services wrote; a second rebuild changes nothing.
    call_command("rebuild_metrics", stdout=StringIO())
    assert movement_log() == live
    first = snapshot_rows()
    call_command("rebuild_metrics", stdout=StringIO())
    assert snapshot_rows() == first

    # MRR (EUR) now: A 20 + B 10 + C 10 + D 10 + E 8 + F 10 + H 10 + J 10 = 88.00; 8 paying customers.
    # 30 days back (end of Jan 21): A 20 + B 20 + C 10 + D 10 + E 8 + F 10 + J 10 = 88.00, 7 paying.
    summary = metrics(billing, "summary", currency="EUR")
    assert summary == {
        "as_of": "2030-02-20",
        "currency": "EUR",
        "converted": False,
        "mrr": eur("88.00"),
        "arr": eur("1056.00"),  # 12 x 88.00
        "arpu": eur("11.00"),  # 88.00 / 8
        "active_subscriptions": 8,  # A B C D E F H J
        "trialing_subscriptions": 0,
        "past_due_subscriptions": 0,
        "paying_customers": 8,
        "trial_conversion_rate": "0.5000",  # H converted, I did not: 1 / 2
        "logo_churn_rate": "0.1429",  # C churned: 1 / 7
        "revenue_churn_rate": "0.2273",  # (churn 10 + contraction 10) / 88 = 0.22727
        "window_days": 30,
    }
    assert metrics(billing, "summary", currency="JPY")["mrr"] == {"amount": "1000", "currency": "JPY"}
    before_the_trials = metrics(billing, "summary", currency="EUR", as_of="2030-01-31")
    assert before_the_trials["mrr"] == eur("88.00") and before_the_trials["paying_customers"] == 7

    movements = metrics(billing, "mrr-movements", currency="EUR", **{"from": "2030-01-10", "to": "2030-02-20"})
    # new 10+20+10+10+8+10+10 (Jan 10) + 10 (H) = 88; net = 88 + 10 + 10 - 10 - 10 = 88.
    assert movements == {
        "from": "2030-01-10",
        "to": "2030-02-20",
        "currency": "EUR",
        "converted": False,
        "new": eur("88.00"),
        "expansion": eur("10.00"),
        "contraction": eur("10.00"),
        "churn": eur("10.00"),
        "reactivation": eur("10.00"),
        "net": eur("88.00"),
        "counts": {"new": 8, "expansion": 1, "contraction": 1, "churn": 1, "reactivation": 1},
    }
    february = metrics(billing, "mrr-movements", currency="EUR", **{"from": "2030-02-01", "to": "2030-02-28"})
    assert february["net"] == eur("0.00")  # H +10, B -10, C -10, C +10

    monthly = metrics(billing, "series", currency="EUR", interval="month", **{"from": "2030-01-01", "to": "2030-02-20"})
    jan, feb = monthly["results"]
    assert (jan["date"], jan["mrr"], jan["new"], jan["expansion"]) == (
        "2030-01-01",
        eur("88.00"),
        eur("78.00"),
        eur("10.00"),
    )
    assert (feb["date"], feb["mrr"], feb["trials_started"], feb["trials_ended"], feb["trials_converted"]) == (
        "2030-02-01",
        eur("88.00"),
        0,
        2,
        1,
    )
    assert (
        jan["trials_started"] == 2 and feb["churn_count"] == 1 and feb["logo_churn_rate"] == "0.1429"
    )  # 1 / 7 paying at the end of January

    # Converted into EUR at the dated rate: 1000 JPY at 0.006 = 6.00; 88.00 + 6.00 = 94.00, 9 paying.
    ExchangeRate.objects.create(date=datetime(2030, 1, 1).date(), base="JPY", quote="EUR", rate="0.006")
    converted = metrics(billing, "summary", currency="EUR", convert="true")
    assert (converted["mrr"], converted["paying_customers"], converted["converted"]) == (eur("94.00"), 9, True)
    missing = billing.operator.get("/api/v1/metrics/summary", {"currency": "USD", "convert": "true"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "exchange_rate_missing"
    assert missing.json()["error"]["param"] == "currency"

    revenue = metrics(billing, "revenue", currency="EUR", **{"from": "2030-01-10", "to": "2030-02-20"})
    assert {row["currency"] for row in revenue["results"]} == {"EUR", "JPY"}
    coupons = metrics(billing, "coupons", **{"from": "2030-01-01", "to": "2030-02-20"})
    by_name = {row["name"]: row for row in coupons["results"]}
    # FOREVER20: 2.00 off on Jan 10 and on Feb 10; ONCE50: 5.00 off once.
    assert by_name["FOREVER20"]["redemptions"] == 1 and by_name["FOREVER20"]["discount_given"] == [eur("4.00")]
    assert by_name["ONCE50"]["discount_given"] == [eur("5.00")]

    # The same figures on the dashboard, as finance sees it (the range's end is the API's as_of).
    finance = sign_in_verified(Client(), staff_in_role("finance"))
    page = finance.get("/admin/", {"from": "2030-01-21", "to": "2030-02-20", "currency": "EUR"})
    assert page.status_code == 200
    shown = {figure.key: figure.value for figure in page.context["dashboard"]["figures"]}
    assert shown["mrr"] == "88.00 EUR" and shown["arr"] == "1\u202f056.00 EUR" and shown["arpu"] == "11.00 EUR"
    assert (shown["active_subscriptions"], shown["paying_customers"]) == ("8", "8")
    assert (shown["trial_conversion_rate"], shown["logo_churn_rate"], shown["revenue_churn_rate"]) == (
        "50.0 %",
        "14.3 %",
        "22.7 %",
    )
    html = page.content.decode()
    assert '<div class="dashboard-figure-value">88.00 EUR</div>' in html


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("summary", {}, "currency"),
        ("summary", {"currency": "EURO"}, "currency"),
        ("summary", {"currency": "XYZ"}, "currency"),
        ("summary", {"currency": "EUR", "as_of": "2030-02-30"}, "as_of"),
        ("summary", {"currency": "EUR", "as_of": "2099-01-01"}, "as_of"),
        ("summary", {"currency": "EUR", "convert": "maybe"}, "convert"),
        ("mrr-movements", {"currency": "EUR"}, "from"),
        ("mrr-movements", {"currency": "EUR", "from": "2030-01-10", "to": "2030-01-01"}, "from"),
        ("mrr-movements", {"currency": "EUR", "from": "yesterday"}, "from"),
        ("series", {"currency": "EUR", "from": "2030-01-01", "interval": "week"}, "interval"),
        ("revenue", {"from": "2030-01-01", "currency": "??"}, "currency"),
        ("coupons", {"from": "0000-01-01"}, "from"),
    ],
)
def test_bad_parameters_answer_400_naming_them(billing, path, params, param):
    response = billing.operator.get(f"/api/v1/metrics/{path}", params)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_metrics_need_a_key_with_the_read_scope(billing, operator_client, anon_client):
    raw, _ = api_key_create(name="writer", scopes=["plans:write"])
    writer = operator_client.__class__()
    writer.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert anon_client.get("/api/v1/metrics/summary", {"currency": "EUR"}).status_code == 401
    refused = writer.get("/api/v1/metrics/summary", {"currency": "EUR"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    reader_raw, _ = api_key_create(name="reader", scopes=["read"])
    reader = operator_client.__class__()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {reader_raw}")
    assert reader.get("/api/v1/metrics/summary", {"currency": "EUR"}).status_code == 200
