"""Invoices: taxed drafts whose lines add up exactly, gap-free numbers, and their states (open, paid, void, uncollectible)."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from moneyed import Money

from integrations.kernel import clock
from integrations.kernel.db import update_rows
from integrations.kernel.errors import InvalidRequest, Unprocessable
from integrations.services import event_emit, events_emit
from payments import hooks
from payments.currency import (
    money,
    normalize_country,
)
from payments.models import (
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    Payment,
)
from payments.representations import (
    invoice_repr,
    invoice_reprs,
)
from payments.selectors import EVIDENCE_INCONCLUSIVE
from payments.services.documents import invoices_documents_freeze
from payments.tax.models import DIGITAL_SERVICES
from payments.tax.rules import TaxTable, tax_decide, tax_evidence_evaluate, tax_lines_per_rate
from payments.tax.selectors import tax_table_load

logger = logging.getLogger("payments")


@dataclass(frozen=True)
class LineSpec:
    description: str
    unit_amount: Money
    quantity: int = 1
    discount: Money | None = None
    reference: str = ""
    tax_category: str | None = None  # None: the sale's (TaxTerms.category)
    # When the service is supplied (a subscription's period): the document's date of supply.
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True)
class Buyer:
    """Who an invoice is for, as tax sees them (read from the customer row when it is built)."""

    id: str
    country: str
    subdivision: str = ""
    tax_id: str = ""
    tax_id_status: str = Customer.TaxIdStatus.UNVERIFIED
    tax_id_country: str = ""
    business_name: str = ""

    BUYER_FIELDS = ("id", "country", "subdivision", "tax_id", "tax_id_status", "tax_id_country", "business_name")

    @classmethod
    def of(cls, customer: Customer) -> "Buyer":
        return cls(**{name: getattr(customer, name) or "" for name in cls.BUYER_FIELDS})


@dataclass(frozen=True)
class TaxTerms:
    """What the sale adds to the buyer for its tax: whether its prices include tax (the plan's
    `tax_behavior`), the tax category of what is sold (the plan's `tax_category`), and the evidence
    of where the buyer is beyond the billing country."""

    behavior: str = "inclusive"
    card_country: str = ""
    ip_country: str = ""
    category: str = DIGITAL_SERVICES  # the plan's: the standard rate, or one a country taxes lower


NO_TERMS = TaxTerms()  # an inclusive price, no evidence beyond the billing country


def buyers_load(customer_ids) -> dict[str, Buyer]:
    """The buyers of many invoices in one query (the batch path)."""
    rows = Customer.objects.filter(pk__in=list(customer_ids)).values_list(*Buyer.BUYER_FIELDS)
    return {row[0]: Buyer(*(value or "" for value in row)) for row in rows}


def invoice_build(
    *,
    buyer: Buyer,
    currency: str,
    lines: list[LineSpec],
    terms: TaxTerms = NO_TERMS,
    source: str | None = None,
    description: str = "",
    table: TaxTable | None = None,
) -> tuple[Invoice, list[InvoiceLine]]:
    """An unsaved draft invoice and its lines, taxed and adding up exactly: the one place an
    invoice's amounts are computed, for a single invoice and the billing engine's batch alike.
    Discounts come first; the tax of each rate is computed once and spread over its lines
    (payments.tax.rules). `table`: the registrations and rates, loaded once by a batch."""
    if not lines:
        raise InvalidRequest("An invoice needs at least one line.", code="parameter_missing", param="lines")
    zero = money(0, currency)
    amounts, discounts = [], []
    for position, spec in enumerate(lines, start=1):
        unit = money(spec.unit_amount.amount, currency)
        discount = money((spec.discount or zero).amount, currency)
        amount = unit * spec.quantity
        if spec.quantity < 1 or unit.amount < 0 or discount.amount < 0 or discount > amount:
            raise InvalidRequest(f"Line {position} does not add up.", code="parameter_invalid", param="lines")
        if (spec.period_start is None) != (spec.period_end is None) or (
            spec.period_start is not None and spec.period_end < spec.period_start
        ):
            raise InvalidRequest(f"Line {position}'s period is not a period.", code="parameter_invalid", param="lines")
        amounts.append(amount)
        discounts.append(discount)

    categories = [spec.tax_category or terms.category for spec in lines]
    at = clock.now()
    evidence = tax_evidence_evaluate(
        billing_country=buyer.country, card_country=terms.card_country, ip_country=terms.ip_country
    )
    if table is None:
        table = tax_table_load(countries=[evidence.country])
    decisions = {
        category: tax_decide(
            at=at,
            customer_country=evidence.country,
            customer_subdivision=buyer.subdivision,
            tax_id_status=buyer.tax_id_status,
            tax_id_country=buyer.tax_id_country,
            category=category,
            table=table,
        )
        for category in set(categories)
    }
    taxes = tax_lines_per_rate(
        amounts=[(a - d).amount for a, d in zip(amounts, discounts, strict=True)],
        rates=[decisions[category].rate for category in categories],
        currency=currency,
        behavior=terms.behavior,
    )
    rows = [
        InvoiceLine(
            position=position,
            description=spec.description[:255],
            quantity=spec.quantity,
            unit_amount=money(spec.unit_amount.amount, currency),
            discount_amount=discount,
            net=money(tax.net, currency),
            tax_rate=decisions[category].rate,
            tax_category=category,
            tax_amount=money(tax.tax, currency),
            total=money(tax.gross, currency),
            reference=spec.reference,
            period_start=spec.period_start,
            period_end=spec.period_end,
        )
        for position, (spec, category, discount, tax) in enumerate(
            zip(lines, categories, discounts, taxes, strict=True), start=1
        )
    ]
    # Every line shares the place and the buyer: the sale's category's decision names the invoice.
    decision = decisions.get(terms.category) or decisions[categories[0]]
    subtotal = sum(amounts, zero)
    discount_total = sum(discounts, zero)
    tax_total = sum((row.tax_amount for row in rows), zero)
    invoice = Invoice(
        customer_id=buyer.id,
        currency=currency,
        subtotal=subtotal,
        discount_total=discount_total,
        tax_total=tax_total,
        total=sum((row.total for row in rows), zero),
        source=source or None,
        description=description[:255],
        tax_inclusive=terms.behavior == "inclusive",
        tax_status=decision.reason,
        tax_country=decision.country,
        tax_subdivision=decision.subdivision or "",
        tax_registration_id=decision.registration_id,
        billing_country=evidence.pieces["billing_country"] or "",
        card_country=evidence.pieces["card_country"] or "",
        ip_country=evidence.pieces["ip_country"] or "",
        tax_evidence_conclusive=evidence.conclusive,
        buyer_business_name=buyer.business_name,
        buyer_tax_id=buyer.tax_id,
    )
    for row in rows:
        row.invoice = invoice
    return invoice, rows


@dataclass(frozen=True)
class PriceAsked:
    """A price to quote: an amount as priced (a plan's price), whether it includes tax, and the
    discount a coupon would take off it."""

    amount: Money
    behavior: str = "inclusive"
    discount: Money | None = None
    category: str = DIGITAL_SERVICES


@dataclass(frozen=True)
class PriceQuote:
    """A price as it would be charged to a buyer: the one-line invoice `invoice_build` makes of it.
    `price` as priced; `net` after the discount, without tax; `total` what is charged. `taxed`:
    tax applies (collected at `rate`, or reverse-charged at 0); otherwise `tax_status` says why not
    (not_registered, no_rate) and the total is the price less the discount."""

    price: Money
    discount: Money
    net: Money
    tax: Money
    total: Money
    rate: Decimal
    inclusive: bool
    tax_status: str
    tax_country: str

    @property
    def taxed(self) -> bool:
        return self.tax_status in (Invoice.TaxStatus.COLLECTING, Invoice.TaxStatus.REVERSE_CHARGE)


def buyer_priced_in(buyer: Buyer, country: object = None) -> Buyer:
    """The buyer as a price for `country` sees them (a customer browsing another country's prices):
    that country's tax, their own subdivision only in their own country, their tax id as it is.
    No country: the buyer's. A country that is not ISO 3166-1 is a 400 country_invalid."""
    if country is None or country == "":
        return buyer
    country = normalize_country(country)
    return buyer if country == buyer.country else replace(buyer, country=country, subdivision="")


def price_quotes(*, buyer: Buyer, prices: Sequence[PriceAsked], country: object = None) -> list[PriceQuote]:
    """Each price as charged to the buyer today (the billing clock's day), in `country` if given
    (`buyer_priced_in`). Each is the one-line invoice that `invoice_build` would make, so a quote
    and the invoice that follows it cannot differ; the tax table is read once for all of them."""
    buyer = buyer_priced_in(buyer, country)
    table = tax_table_load(countries=[buyer.country])
    quotes = []
    for asked in prices:
        invoice, [line] = invoice_build(
            buyer=buyer,
            currency=asked.amount.currency.code,
            lines=[LineSpec(description="Quote", unit_amount=asked.amount, discount=asked.discount)],
            terms=TaxTerms(behavior=asked.behavior, category=asked.category),
            table=table,
        )
        quotes.append(
            PriceQuote(
                price=line.unit_amount,
                discount=line.discount_amount,
                net=line.net,
                tax=line.tax_amount,
                total=line.total,
                rate=line.tax_rate,
                inclusive=invoice.tax_inclusive,
                tax_status=invoice.tax_status,
                tax_country=invoice.tax_country,
            )
        )
    return quotes


def price_quote(
    *,
    buyer: Buyer,
    amount: Money,
    behavior: str,
    discount: Money | None = None,
    category: str = DIGITAL_SERVICES,
    country: object = None,
) -> PriceQuote:
    """One price as charged to the buyer (`price_quotes` for one)."""
    return price_quotes(buyer=buyer, prices=[PriceAsked(amount, behavior, discount, category)], country=country)[0]


@transaction.atomic
def invoice_create(
    *,
    customer: Customer,
    currency: str,
    lines: list[LineSpec],
    terms: TaxTerms = NO_TERMS,
    source: str | None = None,
    description: str = "",
) -> Invoice:
    """A draft invoice, taxed, whose lines add up exactly. With a `source`, a second call returns
    the first invoice (a rerun of the same billing finds its invoice instead of making another)."""
    invoice, rows = invoice_build(
        buyer=Buyer.of(customer), currency=currency, lines=lines, terms=terms, source=source, description=description
    )
    try:
        with transaction.atomic():
            invoice.save(force_insert=True)
    except IntegrityError:  # the same source made before (a rerun) or racing in: that invoice
        existing = Invoice.objects.filter(source=source).first() if source else None
        if existing is None:
            raise
        return existing
    InvoiceLine.objects.bulk_create(rows)
    event_emit(
        type="invoice.created",
        payload={"invoice": invoice_repr(invoice, lines=rows, credit_notes=[])},
        customer_id=customer.id,
    )
    return invoice


def invoice_numbers_reserve(*, year: int, count: int = 1) -> list[str]:
    """The next `count` invoice numbers of the year, gap-free."""
    return numbers_reserve(sequence=InvoiceNumberSequence, prefix="INV", year=year, count=count)


def numbers_reserve(*, sequence, prefix: str, year: int, count: int = 1) -> list[str]:
    """The next `count` numbers of a yearly gap-free series (invoices, credit notes): one upsert
    whose row lock lasts until the caller's transaction ends, so a rollback gives the numbers back."""
    table = sequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (year, last_number) VALUES (%s, %s) "  # noqa: S608 - table name from our model
            f"ON CONFLICT (year) DO UPDATE SET last_number = {table}.last_number + EXCLUDED.last_number "
            "RETURNING last_number",
            [year, count],
        )
        last = cursor.fetchone()[0]
    return [f"{prefix}-{year}-{number:06d}" for number in range(last - count + 1, last + 1)]


def _next_invoice_number(year: int) -> str:
    return invoice_numbers_reserve(year=year)[0]


@transaction.atomic
def invoice_finalize(*, invoice: Invoice) -> Invoice:
    """Number the invoice and open it for payment; a zero total is paid at once with no charge.
    What its PDF says is fixed here (payments.services.documents), rendered on first need."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != Invoice.Status.DRAFT:
        return invoice
    now = timezone.now()
    invoice.number = _next_invoice_number(now.year)
    invoice.status = Invoice.Status.OPEN
    invoice.finalized_at = now
    invoice.save(update_fields=["number", "status", "finalized_at"])
    invoices_documents_freeze(invoices=[invoice])
    if invoice.total.amount == 0:
        return invoice_mark_paid(invoice=invoice, payment=None)
    return invoice


PAYABLE_STATUSES = (Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE)


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, payment: "Payment | None") -> Invoice:
    """Settle one invoice (a zero total, or a payment): `invoices_mark_paid` for one."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == Invoice.Status.PAID:
        return invoice
    if invoice.status not in PAYABLE_STATUSES:
        raise Unprocessable(f"A {invoice.status} invoice cannot be paid.", code="invoice_not_payable")
    invoices_mark_paid(paid=[(invoice, payment)])
    return invoice


def invoice_attempts_begun(invoice_ids: list[str]) -> None:
    """A charge attempt started for each of these invoices (the caller's transaction)."""
    Invoice.objects.filter(pk__in=invoice_ids).update(attempt_count=F("attempt_count") + 1)


def invoice_next_attempt_plan(*, invoice: Invoice, at: datetime | None) -> None:
    """When the next retry of an open invoice is planned (dunning says); None = no more."""
    Invoice.objects.filter(pk=invoice.pk).update(next_attempt_at=at)
    invoice.next_attempt_at = at


def invoices_mark_paid(*, paid: list[tuple[Invoice, "Payment | None"]]) -> None:
    """The one step that settles invoices, one or a batch: paid now, `invoice.paid`, and the
    settlement handlers of the higher apps (the subscription or the pass the invoice was for), all
    in the caller's transaction. The caller holds the invoices' locks and has checked that each is
    payable."""
    if not paid:
        return
    now = timezone.now()
    invoices = [invoice for invoice, _ in paid]
    for invoice in invoices:
        invoice.status, invoice.paid_at, invoice.next_attempt_at = Invoice.Status.PAID, now, None
    update_rows(invoices, ["status", "paid_at", "next_attempt_at"])
    events_emit(
        [
            ("invoice.paid", {"invoice": rendered}, i.customer_id)
            for i, rendered in zip(invoices, invoice_reprs(invoices), strict=True)
        ]
    )
    hooks.run("invoices_paid", paid=paid)


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice) -> Invoice:
    """Give up collecting an open invoice (dunning exhausted); it can still be paid later."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == Invoice.Status.OPEN:
        invoice.status, invoice.next_attempt_at = Invoice.Status.UNCOLLECTIBLE, None
        invoice.save(update_fields=["status", "next_attempt_at"])
        event_emit(
            type="invoice.marked_uncollectible",
            payload={"invoice": invoice_repr(invoice)},
            customer_id=invoice.customer_id,
        )
    return invoice


@transaction.atomic
def invoice_void(*, invoice: Invoice) -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == Invoice.Status.PAID:
        raise Unprocessable("A paid invoice cannot be voided; refund its payment.", code="invoice_paid")
    if invoice.status != Invoice.Status.VOID:
        invoice.status, invoice.voided_at, invoice.next_attempt_at = Invoice.Status.VOID, timezone.now(), None
        invoice.save(update_fields=["status", "voided_at", "next_attempt_at"])
        event_emit(type="invoice.voided", payload={"invoice": invoice_repr(invoice)}, customer_id=invoice.customer_id)
    return invoice


@transaction.atomic
def invoice_tax_evidence_review(*, invoice: Invoice, reviewer) -> tuple[Invoice, bool]:
    """Finance looked at an invoice's inconclusive location evidence (the admin's "Tax evidence to
    review"): who and when are kept, and it leaves the list. The invoice's tax never changes.
    Answers the invoice and whether this call reviewed it (False: someone already had); an invoice
    that is not on the list (conclusive, untaxed, draft or void) is refused."""
    locked = Invoice.objects.select_for_update().filter(EVIDENCE_INCONCLUSIVE, pk=invoice.pk).first()
    if locked is None:
        raise Unprocessable(
            "Only a finalized, taxed invoice whose evidence is inconclusive is reviewed.",
            code="invoice_evidence_not_reviewable",
        )
    if locked.tax_evidence_reviewed_at is not None:
        return locked, False
    locked.tax_evidence_reviewed_at, locked.tax_evidence_reviewed_by = clock.now(), reviewer
    locked.save(update_fields=["tax_evidence_reviewed_at", "tax_evidence_reviewed_by"])
    return locked, True
