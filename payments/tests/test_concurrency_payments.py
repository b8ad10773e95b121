"""Races on PostgreSQL with real threads: invoice numbers, refunds and charges of one invoice."""

from decimal import Decimal

import pytest
from django.utils import timezone
from moneyed import Money

from integrations.kernel.errors import DomainError
from integrations.tests.concurrency import run_at_once
from payments.gateways.sandbox.gateway import sandbox_tokenize
from payments.gateways.sandbox.models import SandboxCharge, SandboxRefund
from payments.models import Invoice, Payment, Refund
from payments.services import (
    LineSpec,
    gateway_account_create,
    invoice_create,
    invoice_finalize,
    invoice_pay,
    payment_method_attach,
    payment_refund,
)
from payments.tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 10


def _draft(customer, amount="9.99"):
    return invoice_create(
        customer=customer, currency="EUR", lines=[LineSpec(description="Pass", unit_amount=Money(amount, "EUR"))]
    )


def _card(customer):
    account = gateway_account_create(provider="sandbox", display_name="Sandbox")
    token = sandbox_tokenize(
        publishable_key=account.credentials["publishable_key"],
        number="4242424242424242",
        exp_month=12,
        exp_year=2034,
        cvc="123",
    )
    return payment_method_attach(customer=customer, gateway_account_id=account.id, token=token.token)


def test_invoices_finalized_at_once_get_consecutive_numbers_without_gaps():
    customer = CustomerFactory()
    drafts = [_draft(customer) for _ in range(THREADS)]

    results = run_at_once(lambda invoice: invoice_finalize(invoice=invoice).number, [(d,) for d in drafts])

    assert not [r for r in results if isinstance(r, Exception)], results
    year = timezone.now().year
    assert sorted(results) == [f"INV-{year}-{n:06d}" for n in range(1, THREADS + 1)]
    stored = Invoice.objects.values_list("number", flat=True)
    assert sorted(stored) == sorted(results)


def test_refunds_racing_on_one_payment_never_exceed_it():
    customer = CustomerFactory()
    invoice = invoice_finalize(invoice=_draft(customer, "9.99"))
    payment = invoice_pay(invoice=invoice, payment_method=_card(customer))
    assert payment.status == Payment.Status.SUCCEEDED

    results = run_at_once(
        lambda: payment_refund(payment=payment, amount=Money("4.00", "EUR")), [() for _ in range(THREADS)]
    )

    refunds = [r for r in results if isinstance(r, Refund)]
    refused = [r for r in results if not isinstance(r, Refund)]
    assert len(refunds) == 2
    assert all(r.status == Refund.Status.SUCCEEDED for r in refunds)
    assert len(refused) == THREADS - 2
    assert all(isinstance(r, DomainError) for r in refused), refused
    assert {r.code for r in refused} == {"refund_exceeds_payment"}
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("8.00")
    assert payment.amount_refunded <= payment.amount.amount
    assert payment.status == Payment.Status.PARTIALLY_REFUNDED
    assert Refund.objects.count() == 2
    assert SandboxRefund.objects.count() == 2
    assert SandboxCharge.objects.get().amount_refunded == Decimal("8.00")


def test_two_charges_of_one_invoice_at_once_charge_it_once():
    customer = CustomerFactory()
    method = _card(customer)
    invoice = invoice_finalize(invoice=_draft(customer))

    results = run_at_once(lambda: invoice_pay(invoice=invoice, payment_method=method), [(), ()])

    payments = [r for r in results if isinstance(r, Payment)]
    refused = [r for r in results if not isinstance(r, Payment)]
    assert payments, results
    assert len({p.pk for p in payments}) == 1
    assert all(isinstance(r, DomainError) and r.code == "invoice_not_payable" for r in refused), refused
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.count() == 1
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    assert Invoice.objects.get().status == Invoice.Status.PAID
