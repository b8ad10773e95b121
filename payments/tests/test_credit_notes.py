"""Credit notes: a refund that succeeds issues one (its own gap-free series) reversing the refunded
share of each line of the invoice and of its tax; across an invoice's notes no line is credited
more than it charged, and the last refund credits exactly what was left."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import Money

from payments import services
from payments.gateways.base import RefundResult, RefundStatus
from payments.gateways.sandbox.gateway import SandboxGateway
from payments.models import CreditNote, CreditNoteLine, Payment
from payments.services import payment_refund, refund_apply_result
from payments.services.credit_notes import shares_by_largest_remainder
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card, succeeded_payment
from payments.tests.tax_helpers import registration, shipped_rates_loaded

pytestmark = pytest.mark.django_db


def _german_vat():
    shipped_rates_loaded()
    registration(country="DE", scheme="domestic")


def _taxed_payment(currency="EUR"):
    """Two lines at German VAT (19%, inclusive): 9.99 and 5.00, 14.99 whose net is 12.60 and tax
    2.39, spread by largest remainder: 8.40 + 1.59 and 4.20 + 0.80."""
    _german_vat()
    customer = CustomerFactory(country="DE")
    lines = [
        services.LineSpec(description="Monthly", unit_amount=Money("9.99", currency)),
        services.LineSpec(description="Extra", unit_amount=Money("5.00", currency)),
    ]
    invoice = services.invoice_finalize(
        invoice=services.invoice_create(customer=customer, currency=currency, lines=lines)
    )
    assert [(line.net.amount, line.tax_amount.amount) for line in invoice.lines.order_by("position")] == [
        (Decimal("8.40"), Decimal("1.59")),
        (Decimal("4.20"), Decimal("0.80")),
    ]
    payment = services.invoice_pay(
        invoice=invoice, payment_method=sandbox_card(customer=customer, account=sandbox_account())
    )
    assert payment.status == Payment.Status.SUCCEEDED
    return payment


def test_a_refund_issues_a_numbered_credit_note_of_the_refunded_share_of_each_line_and_its_tax():
    payment = _taxed_payment()

    refund = payment_refund(payment=payment, amount=Money("5.00", "EUR"))

    note = CreditNote.objects.get(refund=refund)
    assert note.number.startswith("CN-") and note.number.endswith("-000001")
    assert note.invoice_id == payment.invoice_id and note.total == Money("5.00", "EUR")
    lines = list(note.lines.order_by("invoice_line__position"))
    assert [line.total.amount for line in lines] == [Decimal("3.33"), Decimal("1.67")]  # 9.99 : 5.00 of 14.99
    assert [line.tax.amount for line in lines] == [Decimal("0.53"), Decimal("0.27")]
    assert note.subtotal + note.tax == note.total and note.tax == Money("0.80", "EUR")


def test_refunds_in_parts_credit_every_line_and_its_tax_exactly_once_in_all():
    payment = _taxed_payment()
    for amount in ("0.01", "3.33", "7.77"):
        payment_refund(payment=payment, amount=Money(amount, "EUR"))
    payment_refund(payment=payment)  # what is left: 3.88

    notes = CreditNote.objects.filter(invoice=payment.invoice).order_by("number")
    assert [n.number[-6:] for n in notes] == ["000001", "000002", "000003", "000004"]  # gap-free, own series
    for invoice_line in payment.invoice.lines.all():
        credited = CreditNoteLine.objects.filter(invoice_line=invoice_line)
        assert sum(c.total.amount for c in credited) == invoice_line.total.amount
        assert sum(c.tax.amount for c in credited) == invoice_line.tax_amount.amount
    assert sum(n.total.amount for n in notes) == payment.amount.amount


def test_a_pending_refund_issues_its_credit_note_when_it_succeeds_and_a_failed_one_none(monkeypatch):
    payment = succeeded_payment(customer=CustomerFactory())
    monkeypatch.setattr(SandboxGateway, "refund", lambda self, **kw: RefundResult(RefundStatus.PENDING))
    pending = payment_refund(payment=payment, amount=Money("4.00", "EUR"))
    failing = payment_refund(payment=payment, amount=Money("1.00", "EUR"))
    assert not CreditNote.objects.exists()

    refund_apply_result(refund=pending, result=RefundResult(RefundStatus.SUCCEEDED))
    refund_apply_result(refund=pending, result=RefundResult(RefundStatus.SUCCEEDED))  # a second webhook
    refund_apply_result(refund=failing, result=RefundResult(RefundStatus.FAILED, message="no"))

    assert list(CreditNote.objects.values_list("refund_id", "total")) == [(pending.pk, Decimal("4.0000"))]


def test_a_zero_decimal_currency_is_credited_in_whole_units():
    _german_vat()
    customer = CustomerFactory()
    invoice = services.invoice_finalize(
        invoice=services.invoice_create(
            customer=customer,
            currency="JPY",
            lines=[services.LineSpec(description="Monthly", unit_amount=Money("1000", "JPY"))],
        )
    )
    assert (invoice.tax_total.amount, invoice.total.amount) == (Decimal("160"), Decimal("1000"))  # 1000 / 1.19 = 840
    payment = services.invoice_pay(
        invoice=invoice, payment_method=sandbox_card(customer=customer, account=sandbox_account())
    )

    note = CreditNote.objects.get(refund=payment_refund(payment=payment, amount=Money("333", "JPY")))

    assert (note.subtotal.amount, note.tax.amount) == (Decimal("280"), Decimal("53"))  # 333 x 160 / 1000 = 53.3


@given(
    total=st.integers(min_value=0, max_value=10**7),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=8),
)
def test_largest_remainder_shares_add_up_and_never_exceed_their_weight(total, weights):
    total = min(total, sum(weights))

    shares = shares_by_largest_remainder(total, weights)

    assert sum(shares) == (total if sum(weights) else 0)
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))
    if sum(weights):
        assert all(
            abs(share - total * weight / sum(weights)) < 1 for share, weight in zip(shares, weights, strict=True)
        )


def test_the_backfill_issues_the_credit_notes_of_earlier_refunds_once():
    from io import StringIO

    from django.core.management import call_command

    payment = _taxed_payment()
    refunds = [payment_refund(payment=payment, amount=Money(a, "EUR")) for a in ("1.00", "2.00")]
    CreditNote.objects.all().delete()  # as before credit notes existed

    out = StringIO()
    call_command("credit_notes_backfill", stdout=out)
    call_command("credit_notes_backfill", stdout=out)

    assert out.getvalue().splitlines() == ["2 credit notes issued.", "0 credit notes issued."]
    assert [CreditNote.objects.get(refund=r).total.amount for r in refunds] == [Decimal("1.00"), Decimal("2.00")]
