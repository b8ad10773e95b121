"""The tax report's tests share one quarter of sales, made through the services and paid through
the sandbox, then dated by hand (paid_at, a credit note's created_at) so that no test depends on
the clock. The figures are checked by hand:

- 9.99 EUR inclusive in DE (19%) = 8.39 net + 1.60 tax; in FR (20%) = 8.33 + 1.66;
- a 5.00 refund of a 9.99 DE invoice credits 0.80 tax (5.00 x 1.60 / 9.99 = 0.8008) on 4.20 net."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from moneyed import Money

from payments import services
from payments.models import CreditNote, GatewayAccount, Invoice, Payment
from payments.tests.factories import CustomerFactory, open_invoice, sandbox_account, sandbox_card
from payments.tests.tax_helpers import registration, shipped_rates_loaded

FEB_FIRST, FEB_LAST = dt.date(2027, 2, 1), dt.date(2027, 2, 28)


def at(year: int, month: int, day: int, *time) -> dt.datetime:
    return dt.datetime(year, month, day, *time, tzinfo=dt.UTC)


def oss_registered(settings) -> None:
    """A German seller with an eu_oss registration: consumers in every member state are taxed at their rate."""
    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()
    registration(country="DE", scheme="eu_oss", number="DE123456789")


def paid_invoice(
    *, country: str, paid_at: dt.datetime, amount: str = "9.99", currency: str = "EUR", **customer
) -> Payment:
    """A 9.99 EUR (inclusive) invoice of a customer in `country`, paid with a sandbox card, and
    dated as paid at `paid_at`."""
    account = GatewayAccount.objects.filter(provider="sandbox").first() or sandbox_account()
    buyer = CustomerFactory(country=country, currency=currency, **customer)
    invoice = services.invoice_finalize(
        invoice=services.invoice_create(
            customer=buyer,
            currency=currency,
            lines=[services.LineSpec(description="Monthly", unit_amount=Money(amount, currency))],
        )
    )
    payment = services.invoice_pay(invoice=invoice, payment_method=sandbox_card(customer=buyer, account=account))
    assert payment.status == Payment.Status.SUCCEEDED, payment.status
    Invoice.objects.filter(pk=invoice.pk).update(paid_at=paid_at)
    return payment


def refunded(payment: Payment, *, amount: str, issued_at: dt.datetime) -> CreditNote:
    """Refund part of a payment through the service; its credit note dated `issued_at`."""
    refund = services.payment_refund(payment=payment, amount=Money(amount, payment.amount.currency.code))
    note = CreditNote.objects.get(refund=refund)
    CreditNote.objects.filter(pk=note.pk).update(created_at=issued_at)
    return note


@dataclass
class Quarter:
    german: Payment  # paid 10 Feb
    german_refunded: Payment  # paid 20 Feb, 5.00 refunded on 25 Feb
    french: Payment  # paid 12 Feb
    french_last_instant: Payment  # paid 28 Feb 23:59:59.999999: the last day is included
    french_business: Payment  # a verified FR VAT id: reverse charge, paid 11 Feb
    january: Payment  # FR, paid 31 Jan 23:59:59: before the range
    march: Payment  # FR, paid 1 Mar 00:00: after it
    untaxed: Payment  # a US customer (no registration there), paid 10 Feb
    unpaid: Invoice  # DE, finalized, never paid
    credit_note: CreditNote


def february_sales(settings) -> Quarter:
    """The sales the report of February 2027 is checked against (see the module's docstring)."""
    oss_registered(settings)
    german_refunded = paid_invoice(country="DE", paid_at=at(2027, 2, 20, 9))
    return Quarter(
        german=paid_invoice(country="DE", paid_at=at(2027, 2, 10, 12)),
        german_refunded=german_refunded,
        french=paid_invoice(country="FR", paid_at=at(2027, 2, 12, 8)),
        french_last_instant=paid_invoice(country="FR", paid_at=at(2027, 2, 28, 23, 59, 59, 999999)),
        french_business=paid_invoice(
            country="FR",
            paid_at=at(2027, 2, 11, 15),
            business_name="Exemple SA",
            tax_id="FR40303265045",
            tax_id_country="FR",
            tax_id_status="verified",
            tax_id_verified_at=timezone.now(),
        ),
        january=paid_invoice(country="FR", paid_at=at(2027, 1, 31, 23, 59, 59)),
        march=paid_invoice(country="FR", paid_at=at(2027, 3, 1, 0, 0, 0)),
        untaxed=paid_invoice(country="US", paid_at=at(2027, 2, 10, 12)),
        unpaid=open_invoice(customer=CustomerFactory(country="DE")),
        credit_note=refunded(german_refunded, amount="5.00", issued_at=at(2027, 2, 25, 10)),
    )


def money(amount: str) -> dict:
    return {"amount": amount, "currency": "EUR"}
