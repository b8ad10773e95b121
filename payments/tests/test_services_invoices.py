"""invoice_create, invoice_finalize: lines that add up exactly in every currency, one invoice per
source, gap-free numbers, zero totals paid at once, and the constraints behind them."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from moneyed import Money

from integrations.kernel.errors import InvalidRequest
from integrations.models import Event
from payments.currency import minor_digits, quantize
from payments.models import Invoice, InvoiceLine, InvoiceNumberSequence, Payment
from payments.services import LineSpec, TaxTerms, invoice_create, invoice_finalize, invoice_void
from payments.services.invoices import Buyer, invoice_build
from payments.tax.models import DIGITAL_SERVICES
from payments.tests.factories import CustomerFactory
from payments.tests.tax_helpers import table as tax_table

pytestmark = pytest.mark.django_db


def _amounts(currency: str, max_minor: int = 10_000_000):
    """Exact amounts in the currency's minor unit."""
    digits = minor_digits(currency)
    return st.integers(min_value=0, max_value=max_minor).map(lambda n: Decimal(n).scaleb(-digits))


@st.composite
def _line(draw, currency: str):
    quantity = draw(st.integers(min_value=1, max_value=50))
    unit = draw(_amounts(currency))
    gross = unit * quantity
    step = Decimal(1).scaleb(-minor_digits(currency))
    discount = draw(st.integers(min_value=0, max_value=int(gross / step))) * step
    return LineSpec(
        description="Line",
        unit_amount=Money(unit, currency),
        quantity=quantity,
        discount=Money(discount, currency),
        tax_category=draw(st.sampled_from([DIGITAL_SERVICES, "broadcasting"])),
    )


@st.composite
def _invoices(draw):
    currency = draw(st.sampled_from(["JPY", "EUR", "KWD"]))
    buyer = Buyer(
        id="cus_test",
        country=draw(st.sampled_from(["DE", "FR", "AT", "IT", "US", "GB"])),
        tax_id_status=draw(st.sampled_from(["unverified", "verified"])),
        tax_id_country=draw(st.sampled_from(["", "FR", "DE"])),
    )
    behavior = draw(st.sampled_from(["inclusive", "exclusive"]))
    return currency, buyer, behavior, draw(st.lists(_line(currency), min_size=1, max_size=6))


OSS = tax_table(("DE", "", "eu_oss"), seller="DE")


@settings(max_examples=200, deadline=None)
@given(case=_invoices())
def test_for_any_lines_discounts_rates_and_behaviour_the_invoice_adds_up_exactly(case):
    currency, buyer, behavior, specs = case

    invoice, lines = invoice_build(
        buyer=buyer, currency=currency, lines=specs, terms=TaxTerms(behavior=behavior), table=OSS
    )

    q = Decimal(1).scaleb(-minor_digits(currency))
    for line, spec in zip(lines, specs, strict=True):
        after_discounts = spec.unit_amount.amount * spec.quantity - spec.discount.amount
        assert line.net.amount + line.tax_amount.amount == line.total.amount
        assert min(line.net.amount, line.tax_amount.amount) >= 0
        # Inclusive prices keep their gross; exclusive ones are the net, tax added.
        assert (line.total if behavior == "inclusive" else line.net).amount == after_discounts
        assert line.total.amount == line.total.amount.quantize(q) and line.net.amount == line.net.amount.quantize(q)
    assert invoice.subtotal.amount == sum(s.unit_amount.amount * s.quantity for s in specs)
    assert invoice.discount_total.amount == sum(s.discount.amount for s in specs)
    assert invoice.tax_total.amount == sum(line.tax_amount.amount for line in lines)
    assert invoice.total.amount == sum(line.total.amount for line in lines)
    expected = invoice.subtotal - invoice.discount_total + (invoice.tax_total if behavior == "exclusive" else 0)
    assert invoice.total == expected
    # The tax of each rate is computed once over its lines (then spread), as a VAT invoice shows it.
    for rate in {line.tax_rate for line in lines}:
        group = [line for line in lines if line.tax_rate == rate]
        net, tax = sum(line.net.amount for line in group), sum(line.tax_amount.amount for line in group)
        if behavior == "exclusive":
            assert tax == quantize(net * rate, currency)
        else:
            assert net == quantize((net + tax) / (1 + rate), currency)
    if invoice.tax_status == "reverse_charge":
        assert invoice.tax_total.amount == 0 and buyer.tax_id_status == "verified"


def test_invoice_create_keeps_its_lines_and_totals(db):
    invoice = invoice_create(
        customer=CustomerFactory(),
        currency="EUR",
        lines=[
            LineSpec(description="A", unit_amount=Money("4.00", "EUR"), quantity=2, discount=Money("1.00", "EUR")),
            LineSpec(description="B", unit_amount=Money("0.99", "EUR")),
        ],
    )

    invoice = Invoice.objects.get(pk=invoice.pk)
    lines = list(invoice.lines.order_by("position"))
    assert [line.position for line in lines] == [1, 2]
    assert [(line.quantity, line.discount_amount.amount, line.net.amount) for line in lines] == [
        (2, Decimal("1.00"), Decimal("7.00")),
        (1, Decimal("0.00"), Decimal("0.99")),
    ]
    assert (invoice.subtotal.amount, invoice.discount_total.amount, invoice.total.amount) == (
        Decimal("8.99"),
        Decimal("1.00"),
        Decimal("7.99"),
    )
    assert invoice.tax_total.amount == 0 and invoice.tax_status == "not_registered"  # no registration: no tax
    assert invoice.status == Invoice.Status.DRAFT and invoice.number is None


def test_invoice_create_quantizes_amounts_to_the_currency():
    customer = CustomerFactory()

    invoice = invoice_create(
        customer=customer,
        currency="KWD",
        lines=[LineSpec(description="Pass", unit_amount=Money("1.2345", "KWD"), quantity=2)],
    )

    line = invoice.lines.get()
    assert line.unit_amount.amount == Decimal("1.235")
    assert invoice.total.amount == Decimal("2.470")


def test_invoice_create_refuses_a_discount_over_the_line_gross():
    customer = CustomerFactory()

    with pytest.raises(InvalidRequest) as error:
        invoice_create(
            customer=customer,
            currency="EUR",
            lines=[LineSpec(description="Pass", unit_amount=Money("5.00", "EUR"), discount=Money("5.01", "EUR"))],
        )

    assert error.value.code == "parameter_invalid"
    assert not Invoice.objects.exists()


def test_invoice_create_refuses_no_lines():
    with pytest.raises(InvalidRequest):
        invoice_create(customer=CustomerFactory(), currency="EUR", lines=[])


def test_invoice_create_with_the_same_source_twice_returns_the_same_invoice():
    customer = CustomerFactory()
    lines = [LineSpec(description="Pass", unit_amount=Money("4.99", "EUR"))]

    first = invoice_create(customer=customer, currency="EUR", lines=lines, source="access:acc_1")
    second = invoice_create(customer=customer, currency="EUR", lines=lines, source="access:acc_1")

    assert second.pk == first.pk
    assert Invoice.objects.count() == 1
    assert InvoiceLine.objects.count() == 1
    assert Event.objects.filter(type="invoice.created").count() == 1


def test_invoice_create_without_a_source_makes_a_new_invoice_each_time():
    customer = CustomerFactory()
    lines = [LineSpec(description="Pass", unit_amount=Money("4.99", "EUR"))]

    invoice_create(customer=customer, currency="EUR", lines=lines)
    invoice_create(customer=customer, currency="EUR", lines=lines)

    assert Invoice.objects.count() == 2


def _draft(customer, amount="9.99", currency="EUR"):
    return invoice_create(
        customer=customer, currency=currency, lines=[LineSpec(description="Pass", unit_amount=Money(amount, currency))]
    )


def test_invoice_finalize_numbers_invoices_one_to_n_without_gaps():
    customer = CustomerFactory()
    drafts = [_draft(customer) for _ in range(7)]

    numbers = [invoice_finalize(invoice=draft).number for draft in drafts]

    year = timezone.now().year
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, 8)]
    assert InvoiceNumberSequence.objects.get(year=year).last_number == 7


def test_invoice_finalize_twice_keeps_the_number_and_uses_no_other():
    customer = CustomerFactory()
    first = invoice_finalize(invoice=_draft(customer))

    again = invoice_finalize(invoice=first)
    second = invoice_finalize(invoice=_draft(customer))

    assert again.number == first.number
    assert int(second.number[-6:]) == int(first.number[-6:]) + 1


def test_invoice_finalize_opens_the_invoice():
    invoice = invoice_finalize(invoice=_draft(CustomerFactory()))

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN
    assert invoice.finalized_at is not None
    assert invoice.paid_at is None


def test_invoice_finalize_pays_a_zero_total_at_once_with_no_payment():
    invoice = invoice_finalize(invoice=_draft(CustomerFactory(), amount="0.00"))

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.number is not None
    assert invoice.paid_at is not None
    assert not Payment.objects.exists()
    assert Event.objects.filter(type="invoice.paid").count() == 1


def test_a_fully_discounted_invoice_is_paid_at_finalize():
    invoice = invoice_create(
        customer=CustomerFactory(),
        currency="JPY",
        lines=[LineSpec(description="Pass", unit_amount=Money("700", "JPY"), discount=Money("700", "JPY"))],
    )

    invoice = invoice_finalize(invoice=invoice)

    assert invoice.status == Invoice.Status.PAID
    assert not Payment.objects.exists()


def test_a_voided_invoice_is_not_finalized():
    invoice = invoice_void(invoice=_draft(CustomerFactory()))

    invoice = invoice_finalize(invoice=invoice)

    assert invoice.status == Invoice.Status.VOID
    assert invoice.number is None


def test_the_database_refuses_an_invoice_total_that_does_not_add_up():
    invoice = _draft(CustomerFactory())

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(total=Money("100.00", "EUR"))

    invoice.refresh_from_db()
    assert invoice.total == Money("9.99", "EUR")


def test_the_database_refuses_an_invoice_line_total_that_does_not_add_up():
    invoice = _draft(CustomerFactory())

    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).update(total=Money("9.98", "EUR"))


def test_the_database_checks_sums_to_the_last_of_the_four_decimal_places():
    """The checks allow half of the fourth place for SQLite's float comparisons; on PostgreSQL a
    difference of one in the fourth place is still refused."""
    invoice = _draft(CustomerFactory())

    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).update(total=Money("9.9901", "EUR"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(total=Money("9.9899", "EUR"))


def test_the_database_refuses_a_negative_invoice_total():
    invoice = _draft(CustomerFactory())

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(
            subtotal=Money("0.00", "EUR"), discount_total=Money("1.00", "EUR"), total=Money("-1.00", "EUR")
        )


def test_the_database_refuses_two_invoices_with_one_number():
    customer = CustomerFactory()
    first = invoice_finalize(invoice=_draft(customer))
    second = _draft(customer)

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=second.pk).update(number=first.number)


def _check_deferred_now():
    """The adds-up trigger runs at commit; tests never commit, so they ask for the check now."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_the_database_refuses_lines_that_no_longer_add_up_to_their_invoice():
    invoice = _draft(CustomerFactory())

    with pytest.raises(IntegrityError, match="does not add up"), transaction.atomic():
        # The line is consistent on its own (net + tax = total), but the invoice's tax is not its lines'.
        InvoiceLine.objects.filter(invoice=invoice).update(
            net=Money("8.39", "EUR"), tax_amount=Money("1.60", "EUR"), tax_rate=Decimal("0.19")
        )
        _check_deferred_now()


def test_the_database_refuses_an_invoice_whose_amounts_move_away_from_its_lines():
    invoice = _draft(CustomerFactory())

    with pytest.raises(IntegrityError, match="does not add up"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(
            subtotal=Money("10.99", "EUR"), discount_total=Money("1.00", "EUR")
        )
        _check_deferred_now()


def test_an_invoice_and_its_lines_written_by_invoice_create_pass_the_check():
    invoice = _draft(CustomerFactory())

    _check_deferred_now()  # nothing raised

    assert invoice.lines.count() == 1
