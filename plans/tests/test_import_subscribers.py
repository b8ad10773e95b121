"""`manage.py import_subscribers`: subscribers brought over from another system, paid until a date,
then renewed by the billing engine; idempotent per external_id; bad rows refused with a reason."""

import csv
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from dateutil.relativedelta import relativedelta
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrations.models import Event
from payments.gateways.sandbox.gateway import sandbox_tokenize
from payments.gateways.sandbox.models import SandboxCharge
from payments.models import Customer, Invoice, Payment, PaymentMethod
from payments.services import gateway_account_create
from payments.tests.factories import CustomerFactory
from plans.billing import run_billing
from plans.models import Subscription, SubscriptionInvoice
from plans.services.imports import subscribers_import
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

COLUMNS = ["external_id", "email", "country", "plan", "paid_through", "card_token", "coupon_code"]


@pytest.fixture
def sandbox():
    return gateway_account_create(provider="sandbox", display_name="Sandbox")


@pytest.fixture
def catalogue():
    return {
        "monthly": PlanFactory(
            code="monthly", prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "8.99", "currency": "GBP"}]
        ),
        "euro-only": PlanFactory(code="euro-only", prices=[{"amount": "5.00", "currency": "EUR"}]),
        "pass": PlanFactory(
            code="pass", kind="one_off", interval=None, access_days=2, prices=[{"amount": "3.00", "currency": "EUR"}]
        ),
    }


def card_token(sandbox, number="4242424242424242") -> str:
    return sandbox_tokenize(
        publishable_key=sandbox.credentials["publishable_key"], number=number, exp_month=12, exp_year=2034, cvc="123"
    ).token


def write_csv(path, rows: list[dict]) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in COLUMNS})
    return str(path)


def import_file(path, *options) -> str:
    out = StringIO()
    call_command("import_subscribers", path, *options, stdout=out, stderr=StringIO())
    return out.getvalue()


def report(output: str) -> list[tuple[int, str, str, str]]:
    """(row, external_id, outcome, reason word) from the command's table."""
    rows = []
    for line in output.splitlines()[1:-1]:
        number, external_id, rest = line.split(maxsplit=2)
        outcome = "would create" if rest.startswith("would create") else rest.split()[0]
        reason = rest[len(outcome) :].strip()
        word = "" if outcome in ("created", "would create") else reason.split(":")[0]
        rows.append((int(number), external_id, outcome, word))
    return rows


def in_days(days: int) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0)


@pytest.fixture
def mixed_csv(tmp_path, sandbox, catalogue):
    """Two good rows, a duplicate of the first, an existing customer, and one bad row per reason."""
    CustomerFactory(external_id="already-here")
    paid_through = in_days(20)
    rows = [
        {"external_id": "good-de", "email": "de@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.date().isoformat(), "card_token": card_token(sandbox)},
        {"external_id": "good-gb", "email": "gb@example.com", "country": "gb", "plan": "monthly",
         "paid_through": paid_through.strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"external_id": "good-de", "email": "again@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.date().isoformat()},
        {"external_id": "already-here", "email": "x@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.date().isoformat()},
        {"external_id": "bad-plan", "email": "p@example.com", "country": "DE", "plan": "gold",
         "paid_through": paid_through.date().isoformat()},
        {"external_id": "bad-one-off", "email": "o@example.com", "country": "DE", "plan": "pass",
         "paid_through": paid_through.date().isoformat()},
        {"external_id": "bad-currency", "email": "c@example.com", "country": "GB", "plan": "euro-only",
         "paid_through": paid_through.date().isoformat()},
        {"external_id": "bad-country", "email": "k@example.com", "country": "XX", "plan": "monthly",
         "paid_through": paid_through.date().isoformat()},
        {"external_id": "bad-email", "email": "not-an-email", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.date().isoformat()},
        {"external_id": "bad-date", "email": "d@example.com", "country": "DE", "plan": "monthly",
         "paid_through": "next tuesday"},
        {"external_id": "past-date", "email": "t@example.com", "country": "DE", "plan": "monthly",
         "paid_through": "2020-01-31"},
        {"external_id": "bad-card", "email": "r@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.date().isoformat(), "card_token": "tok_does_not_exist"},
        {"external_id": "with-coupon", "email": "w@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.date().isoformat(), "coupon_code": "WELCOME"},
    ]  # fmt: skip
    return write_csv(tmp_path / "subscribers.csv", rows), paid_through


EXPECTED = [
    (2, "good-de", "created", ""),
    (3, "good-gb", "created", ""),
    (4, "good-de", "refused", "duplicate_in_file"),
    (5, "already-here", "skipped", "exists"),
    (6, "bad-plan", "refused", "unknown_plan"),
    (7, "bad-one-off", "refused", "one_off_plan"),
    (8, "bad-currency", "refused", "no_price_in_currency"),
    (9, "bad-country", "refused", "bad_country"),
    (10, "bad-email", "refused", "bad_email"),
    (11, "bad-date", "refused", "bad_paid_through"),
    (12, "past-date", "refused", "paid_through_past"),
    (13, "bad-card", "refused", "card_refused"),
    (14, "with-coupon", "refused", "coupon_not_found"),  # no campaign has that code
]


def test_the_report_says_which_rows_were_created_skipped_and_refused_and_why(mixed_csv):
    path, _ = mixed_csv

    output = import_file(path)

    assert report(output) == EXPECTED
    assert output.splitlines()[-1] == "13 rows: 2 created, 1 skipped, 10 refused"


def test_good_rows_become_active_subscriptions_paid_until_paid_through(mixed_csv, sandbox):
    path, paid_through = mixed_csv

    import_file(path)

    de = Subscription.objects.select_related("customer", "price", "payment_method").get(customer__external_id="good-de")
    midnight = datetime(paid_through.year, paid_through.month, paid_through.day, tzinfo=UTC)
    assert (de.status, de.source, de.cycles_billed) == (Subscription.Status.ACTIVE, "import", 0)
    assert de.current_period_end == de.next_billing_at == midnight
    assert (de.currency, str(de.price.amount.amount)) == ("EUR", "9.9900")
    assert de.payment_method.gateway_account_id == sandbox.id
    assert de.payment_method.is_default
    assert (de.customer.email, de.customer.country, de.customer.currency) == ("de@example.com", "DE", "EUR")
    gb = Subscription.objects.select_related("customer").get(customer__external_id="good-gb")
    assert gb.current_period_end == gb.next_billing_at == paid_through
    assert (gb.currency, gb.customer.country, gb.payment_method) == ("GBP", "GB", None)
    created = Event.objects.filter(type="subscription.created")
    assert sorted(e.payload["subscription"]["id"] for e in created) == sorted([de.id, gb.id])
    assert not Invoice.objects.exists() and not Payment.objects.exists()


def test_a_refused_row_leaves_nothing_behind(mixed_csv):
    path, _ = mixed_csv

    import_file(path)

    refused = [
        external_id for _, external_id, outcome, _ in EXPECTED if outcome == "refused" and external_id != "good-de"
    ]
    assert not Customer.objects.filter(external_id__in=refused).exists()
    assert Customer.objects.count() == 3  # the two imported and the one already here
    assert Subscription.objects.count() == 2
    assert PaymentMethod.objects.count() == 1
    assert Event.objects.filter(type="customer.created").count() == 2


def test_importing_the_same_file_again_skips_every_row_it_created(mixed_csv):
    path, _ = mixed_csv
    import_file(path)
    before = (Customer.objects.count(), Subscription.objects.count(), PaymentMethod.objects.count())
    events = Event.objects.count()

    second = report(import_file(path))

    assert [row for row in second if row[1] in ("good-de", "good-gb") and row[0] in (2, 3)] == [
        (2, "good-de", "skipped", "exists"),
        (3, "good-gb", "skipped", "exists"),
    ]
    assert [row for row in second if row[2] == "created"] == []
    assert [row for row in second if row[2] == "refused"] == [row for row in EXPECTED if row[2] == "refused"]
    assert (Customer.objects.count(), Subscription.objects.count(), PaymentMethod.objects.count()) == before
    assert Event.objects.count() == events


def test_a_file_of_good_rows_imported_twice_is_all_skipped_the_second_time(tmp_path, sandbox, catalogue):
    paid_through = in_days(10).date().isoformat()
    rows = [
        {"external_id": f"u-{n}", "email": f"u{n}@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through, "card_token": card_token(sandbox)}
        for n in range(3)
    ]  # fmt: skip
    path = write_csv(tmp_path / "good.csv", rows)

    first = import_file(path)
    second = import_file(path)

    assert [row[2] for row in report(first)] == ["created"] * 3
    assert [row[2:] for row in report(second)] == [("skipped", "exists")] * 3
    assert second.splitlines()[-1] == "3 rows: 0 created, 3 skipped, 0 refused"
    assert Subscription.objects.count() == 3


def test_dry_run_reports_the_same_outcomes_and_writes_nothing(mixed_csv):
    path, _ = mixed_csv
    counts = (Customer.objects.count(), Event.objects.count())

    output = import_file(path, "--dry-run")

    dry = [(n, e, "created" if o == "would create" else o, r) for n, e, o, r in report(output)]
    # A dry run sends no token to the gateway, so the unknown token is only found by the real run.
    assert dry == [row if row[1] != "bad-card" else (13, "bad-card", "created", "") for row in EXPECTED]
    assert output.splitlines()[-1] == "13 rows: 3 would create, 1 skipped, 9 refused (dry run: nothing was written)"
    assert (Customer.objects.count(), Event.objects.count()) == counts
    assert not Subscription.objects.exists()
    assert not PaymentMethod.objects.exists()
    assert report(import_file(path)) == EXPECTED  # the real run afterwards is not disturbed


def test_an_imported_subscription_is_not_charged_before_paid_through_then_renews_on_its_card(
    tmp_path, sandbox, catalogue
):
    token = card_token(sandbox)
    paid_through = in_days(10)
    path = write_csv(
        tmp_path / "one.csv",
        [{"external_id": "mig-1", "email": "mig@example.com", "country": "DE", "plan": "monthly",
          "paid_through": paid_through.isoformat(), "card_token": token}],
    )  # fmt: skip
    import_file(path)
    sub = Subscription.objects.get()

    for days in (0, 5, 9):
        run_billing(as_of=timezone.now() + timedelta(days=days))
    assert not Invoice.objects.exists()
    assert not SandboxCharge.objects.exists()

    run_billing(as_of=paid_through + timedelta(minutes=1))
    run_billing(as_of=paid_through + timedelta(minutes=30))

    invoice = Invoice.objects.get()
    assert invoice.status == Invoice.Status.PAID
    assert (str(invoice.total.amount), invoice.currency) == ("9.9900", "EUR")
    link = SubscriptionInvoice.objects.get()
    assert (link.subscription_id, link.purpose, link.period_start) == (sub.id, "renewal", paid_through)
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.payment_method_id == sub.payment_method_id
    assert SandboxCharge.objects.get().card_id == token
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.ACTIVE
    assert sub.cycles_billed == 1
    assert sub.current_period_start == paid_through
    assert sub.current_period_end == sub.next_billing_at == paid_through + relativedelta(months=1)


def test_the_service_reports_each_row_without_the_command(catalogue):
    paid_through = in_days(3).isoformat()
    rows = [
        {"external_id": "s-1", "email": "s1@example.com", "country": "DE", "plan": "monthly", "paid_through": paid_through},
        {"external_id": "s-2", "email": "s2@example.com", "country": "DE", "plan": "nope", "paid_through": paid_through},
    ]  # fmt: skip

    results = subscribers_import(rows=rows, dry_run=False)

    assert [(r.row, r.external_id, r.outcome, r.reason) for r in results] == [
        (2, "s-1", "created", ""),
        (3, "s-2", "refused", "unknown_plan"),
    ]
    assert results[0].subscription_id == Subscription.objects.get().id
    assert "nope" in results[1].detail


def test_a_file_without_a_required_column_is_refused_whole(tmp_path, catalogue):
    path = tmp_path / "short.csv"
    path.write_text("external_id,email,country\nx,x@example.com,DE\n")

    with pytest.raises(CommandError, match="paid_through"):
        import_file(str(path))
    assert not Customer.objects.exists()


def test_an_external_id_or_email_too_long_for_the_database_is_refused_not_a_crash(catalogue):
    paid_through = in_days(3).isoformat()
    rows = [
        {"external_id": "x" * 256, "email": "x@example.com", "country": "DE", "plan": "monthly", "paid_through": paid_through},
        {"external_id": "long-mail", "email": "a" * 64 + "@" + "b" * 62 + "." + "c" * 62 + "." + "d" * 61 + ".com", "country": "DE", "plan": "monthly", "paid_through": paid_through},
        {"external_id": "fine", "email": "fine@example.com", "country": "DE", "plan": "monthly", "paid_through": paid_through},
    ]  # fmt: skip

    results = subscribers_import(rows=rows)

    assert [(r.outcome, r.reason) for r in results] == [
        ("refused", "bad_external_id"),
        ("refused", "bad_email"),
        ("created", ""),
    ]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["fine"]


def test_an_imported_subscriber_gets_the_agreed_discount_or_free_period(tmp_path, sandbox, catalogue):
    from coupons.models import Discount
    from coupons.services import coupon_create

    coupon_create(
        name="Move 20%",
        kind="single_code",
        code="MOVE20",
        discount={"type": "percent", "percent_off": "20"},
        duration="forever",
        max_redemptions_per_customer=1,
    )
    coupon_create(
        name="A free month",
        kind="single_code",
        code="FREEMONTH",
        discount={"type": "free_trial", "trial": {"length": 1, "unit": "month"}},
    )
    paid_through = in_days(10)
    path = write_csv(tmp_path / "coupons.csv", [
        {"external_id": "mover", "email": "m@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.isoformat(), "coupon_code": "move20"},
        {"external_id": "freebie", "email": "f@example.com", "country": "DE", "plan": "monthly",
         "paid_through": paid_through.isoformat(), "coupon_code": "FREEMONTH"},
    ])  # fmt: skip

    assert [status for _, _, status, _ in report(import_file(path))] == ["created", "created"]

    mover = Subscription.objects.get(customer__external_id="mover")
    assert Discount.objects.get(subscription_id=mover.id, active=True).coupon.name == "Move 20%"
    freebie = Subscription.objects.get(customer__external_id="freebie")
    assert freebie.next_billing_at == paid_through + relativedelta(months=1)
