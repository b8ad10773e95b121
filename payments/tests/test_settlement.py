"""payouts_create_sandbox: payments captured two days before pay out per gateway account and
currency, net of fees and refunds, once."""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone
from moneyed import Money

from payments.gateways.sandbox.gateway import sandbox_tokenize
from payments.models import Payment, Payout, Refund
from payments.services import (
    LineSpec,
    gateway_account_create,
    invoice_create,
    invoice_finalize,
    invoice_pay,
    payment_method_attach,
    payment_refund,
    payouts_create_sandbox,
)
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def fee(amount: str, currency: str) -> Decimal:
    """2.9% + 25 minor units, half-up to the minor unit: worked out here, not by the code under test."""
    unit = Decimal("1") if currency == "JPY" else Decimal("0.01")
    return (Decimal(amount) * Decimal("0.029") + 25 * unit).quantize(unit, rounding=ROUND_HALF_UP)


@pytest.fixture
def sandbox(db):
    return gateway_account_create(provider="sandbox", display_name="Sandbox", priority=10)


@pytest.fixture
def as_of():
    return timezone.now() + timedelta(minutes=1)


def pay(account, customer, amount: str, currency: str, *, captured_days_ago: float, as_of) -> Payment:
    token = sandbox_tokenize(
        publishable_key=account.credentials["publishable_key"],
        number="4242424242424242",
        exp_month=12,
        exp_year=2034,
        cvc="123",
    )
    method = payment_method_attach(customer=customer, gateway_account_id=account.id, token=token.token)
    invoice = invoice_create(
        customer=customer, currency=currency, lines=[LineSpec(description="Pass", unit_amount=Money(amount, currency))]
    )
    payment = invoice_pay(invoice=invoice_finalize(invoice=invoice), payment_method=method)
    assert payment.status == Payment.Status.SUCCEEDED
    Payment.objects.filter(pk=payment.pk).update(captured_at=as_of - timedelta(days=captured_days_ago))
    return Payment.objects.get(pk=payment.pk)


def test_the_sandbox_records_the_fee_on_each_payment(sandbox, as_of):
    customer = CustomerFactory()

    payments = [
        pay(sandbox, customer, amount, "EUR", captured_days_ago=3, as_of=as_of)
        for amount in ("9.99", "4.99", "0.50", "100.00")
    ]

    for payment in payments:
        assert payment.fee.amount == fee(str(payment.amount.amount), "EUR")
        assert payment.net == payment.amount - payment.fee


def test_payout_sums_gross_minus_fees_per_account_and_currency(sandbox, as_of):
    other = gateway_account_create(provider="sandbox", display_name="Other", priority=20)
    euro = CustomerFactory()
    yen = CustomerFactory(country="JP", currency="JPY")
    eur_1 = pay(sandbox, euro, "9.99", "EUR", captured_days_ago=2, as_of=as_of)
    eur_2 = pay(sandbox, euro, "4.99", "EUR", captured_days_ago=5, as_of=as_of)
    jpy = pay(sandbox, yen, "700", "JPY", captured_days_ago=3, as_of=as_of)
    other_eur = pay(other, CustomerFactory(), "19.99", "EUR", captured_days_ago=4, as_of=as_of)

    payouts = payouts_create_sandbox(as_of=as_of)

    assert len(payouts) == 3
    by_group = {(p.gateway_account_id, p.amount.currency.code): p for p in Payout.objects.all()}
    assert set(by_group) == {(sandbox.id, "EUR"), (sandbox.id, "JPY"), (other.id, "EUR")}

    eur_fees = fee("9.99", "EUR") + fee("4.99", "EUR")
    assert by_group[sandbox.id, "EUR"].fee_total == Money(eur_fees, "EUR")
    assert by_group[sandbox.id, "EUR"].amount == Money(Decimal("14.98") - eur_fees, "EUR")
    assert by_group[sandbox.id, "JPY"].fee_total == Money(fee("700", "JPY"), "JPY")
    assert by_group[sandbox.id, "JPY"].amount == Money(700 - fee("700", "JPY"), "JPY")
    assert by_group[sandbox.id, "JPY"].fee_total == Money(45, "JPY")
    assert by_group[other.id, "EUR"].amount == Money(Decimal("19.99") - fee("19.99", "EUR"), "EUR")

    links = dict(Payment.objects.values_list("pk", "payout_id"))
    assert links[eur_1.pk] == links[eur_2.pk] == by_group[sandbox.id, "EUR"].pk
    assert links[jpy.pk] == by_group[sandbox.id, "JPY"].pk
    assert links[other_eur.pk] == by_group[other.id, "EUR"].pk
    assert all(p.status == Payout.Status.PAID and p.arrival_date == as_of.date() for p in payouts)


def test_payout_deducts_refunds(sandbox, as_of):
    customer = CustomerFactory()
    refunded = pay(sandbox, customer, "9.99", "EUR", captured_days_ago=3, as_of=as_of)
    kept = pay(sandbox, customer, "4.99", "EUR", captured_days_ago=3, as_of=as_of)
    refund = payment_refund(payment=refunded, amount=Money("3.00", "EUR"))
    assert refund.status == Refund.Status.SUCCEEDED

    (payout,) = payouts_create_sandbox(as_of=as_of)

    fees = fee("9.99", "EUR") + fee("4.99", "EUR")
    assert payout.fee_total == Money(fees, "EUR")
    assert payout.amount == Money(Decimal("14.98") - fees - Decimal("3.00"), "EUR")
    refund.refresh_from_db()
    assert refund.payout_id == payout.pk
    assert set(payout.payments.values_list("pk", flat=True)) == {refunded.pk, kept.pk}


def test_a_payment_captured_one_day_ago_is_left_for_a_later_payout(sandbox, as_of):
    customer = CustomerFactory()
    settled = pay(sandbox, customer, "9.99", "EUR", captured_days_ago=2, as_of=as_of)
    recent = pay(sandbox, customer, "4.99", "EUR", captured_days_ago=1, as_of=as_of)

    (payout,) = payouts_create_sandbox(as_of=as_of)

    assert payout.amount == Money(Decimal("9.99") - fee("9.99", "EUR"), "EUR")
    assert Payment.objects.get(pk=settled.pk).payout_id == payout.pk
    assert Payment.objects.get(pk=recent.pk).payout_id is None

    (later,) = payouts_create_sandbox(as_of=as_of + timedelta(days=1))

    assert later.pk != payout.pk
    assert later.amount == Money(Decimal("4.99") - fee("4.99", "EUR"), "EUR")
    assert Payment.objects.get(pk=recent.pk).payout_id == later.pk


def test_running_the_payout_twice_creates_no_second_payout(sandbox, as_of):
    customer = CustomerFactory()
    pay(sandbox, customer, "9.99", "EUR", captured_days_ago=3, as_of=as_of)

    first = payouts_create_sandbox(as_of=as_of)
    second = payouts_create_sandbox(as_of=as_of)
    third = payouts_create_sandbox(as_of=as_of + timedelta(hours=1))

    assert len(first) == 1
    assert second == [] and third == []
    assert Payout.objects.count() == 1


def test_no_payout_without_settled_payments(sandbox, as_of):
    pay(sandbox, CustomerFactory(), "9.99", "EUR", captured_days_ago=1, as_of=as_of)

    assert payouts_create_sandbox(as_of=as_of) == []
    assert not Payout.objects.exists()
