"""Invoice and credit-note PDFs read back with pdftotext: everything an EU invoice must show (VAT
Directive art. 226: seller and buyer with their VAT ids, number, issue date and date of supply,
each line's quantity, unit price, net, rate and tax, the tax per rate, "Reverse charge", the
totals) in JPY, EUR and KWD with exactly their digits, taxed inclusive and exclusive, untaxed and
reverse-charged; credit notes naming the invoice they correct; English and German."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from moneyed import Money

from payments import services
from payments.currency import quantize
from payments.models import Customer, Invoice
from payments.services import credit_note_document_render, invoice_document_render, payment_refund
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from payments.tests.pdf_helpers import line_with, needs_pdftotext, pdf_text
from payments.tests.tax_helpers import registration, shipped_rates_loaded

pytestmark = [pytest.mark.django_db, needs_pdftotext]

ISSUED = dt.datetime(2027, 1, 31, 10, 0, tzinfo=dt.UTC)
PERIOD = (dt.datetime(2027, 1, 31, tzinfo=dt.UTC), dt.datetime(2027, 2, 28, tzinfo=dt.UTC))

# One line of PRICE in each currency, worked by hand at German VAT (19%), half-up to the minor unit:
# inclusive: net = price / 1.19, tax = price - net; exclusive: tax = price * 0.19 added. As the PDF
# writes them in English: JPY without decimals, KWD with three.
PRICE = {"EUR": "9.99", "JPY": "1500", "KWD": "1.250"}
SHOWN = {
    # currency: (price, inclusive (net, tax, total), exclusive (net, tax, total)), as shown
    "EUR": ("9.99", ("8.39", "1.60", "9.99"), ("9.99", "1.90", "11.89")),
    "JPY": ("1,500", ("1,261", "239", "1,500"), ("1,500", "285", "1,785")),
    "KWD": ("1.250", ("1.050", "0.200", "1.250"), ("1.250", "0.238", "1.488")),
}
ZERO = {"EUR": "0.00", "JPY": "0", "KWD": "0.000"}
DASH = "\u2013"  # between a period's dates, and the rate of an untaxed line


@pytest.fixture(autouse=True)
def seller(settings):
    settings.TAX_SELLER_NAME = "Media Manager GmbH"
    settings.TAX_SELLER_ADDRESS = "Hauptstraße 1\n10115 Berlin"
    settings.TAX_SELLER_VAT_ID = "DE123456789"
    settings.TAX_SELLER_COUNTRY = "DE"
    return settings


def _issued(customer, currency, *, behavior="inclusive", period=False, lines=None) -> Invoice:
    lines = lines or [
        services.LineSpec(
            description="Monthly plan",
            unit_amount=Money(PRICE[currency], currency),
            period_start=PERIOD[0] if period else None,
            period_end=PERIOD[1] if period else None,
        )
    ]
    with time_machine.travel(ISSUED, tick=False):
        draft = services.invoice_create(
            customer=customer, currency=currency, lines=lines, terms=services.TaxTerms(behavior=behavior)
        )
        return services.invoice_finalize(invoice=draft)


def _en(value: Money) -> str:
    """An amount as the English documents write it: thousands with commas, the currency's digits."""
    return f"{quantize(value.amount, value.currency.code):,}"


def _text(invoice: Invoice) -> str:
    return pdf_text(invoice_document_render(invoice=invoice).content)


def _flat(text: str) -> str:
    """The text as one line: for phrases a box may wrap."""
    return " ".join(text.split())


def _german_vat():
    shipped_rates_loaded()
    registration(country="DE", scheme="domestic")


def _business(country: str, vat_id: str, **extra) -> Customer:
    customer = CustomerFactory(country=country, name="Anna Müller", business_name="Exemple SARL", **extra)
    Customer.objects.filter(pk=customer.pk).update(
        tax_id=vat_id, tax_id_country=country, tax_id_status="verified", tax_id_verified_at=timezone.now()
    )
    customer.refresh_from_db()
    return customer


def _assert_the_parties_number_and_dates(text: str, invoice: Invoice) -> None:
    assert text.splitlines()[0] == "Invoice"
    for seller_part in ("Media Manager GmbH", "Hauptstraße 1", "10115 Berlin", "VAT ID: DE123456789"):
        assert seller_part in text, seller_part
    assert "Germany" in text  # the seller's country (and here the buyer's)
    assert "Anna Müller" in text
    assert line_with(text, "Invoice number") == f"Invoice number {invoice.number}"
    assert line_with(text, "Issue date") == "Issue date January 31, 2027"


# --- Taxed, inclusive and exclusive, in each currency's digits


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD"])
@pytest.mark.parametrize("behavior", ["inclusive", "exclusive"])
def test_a_taxed_invoice_shows_every_line_figure_the_tax_per_rate_and_the_totals(currency, behavior):
    _german_vat()
    invoice = _issued(CustomerFactory(country="DE", name="Anna Müller"), currency, behavior=behavior)
    price, inclusive, exclusive = SHOWN[currency]
    net, tax, total = inclusive if behavior == "inclusive" else exclusive
    line = invoice.lines.get()
    assert (line.net.amount, line.tax_amount.amount, line.total.amount) == tuple(
        Decimal(value.replace(",", "")) for value in (net, tax, total)
    ), "the hand-worked figures are the invoice's"

    text = _text(invoice)

    _assert_the_parties_number_and_dates(text, invoice)
    assert text.count("VAT ID:") == 1  # a consumer has none
    assert line_with(text, "Date of supply") == "Date of supply January 31, 2027"  # no period: the issue date
    assert line_with(text, "Currency") == f"Currency {currency}"
    assert line_with(text, "Monthly plan") == f"Monthly plan 1 {price} {net} 19% {tax} {total}"
    assert "VAT per rate (Germany)" in text
    assert f"19% {net} {tax}" in text.splitlines()
    lines = text.splitlines()
    assert f"Total net (excl. VAT) {currency} {net}" in lines
    assert f"VAT {currency} {tax}" in lines
    assert f"Total {currency} {total}" in lines
    words = "Prices include VAT." if behavior == "inclusive" else "VAT is added to the prices."
    assert words in text
    assert "Reverse charge" not in text and "No VAT charged" not in text


def test_the_unit_price_column_says_whether_it_includes_vat():
    _german_vat()
    customer = CustomerFactory(country="DE")

    inclusive = _flat(_text(_issued(customer, "EUR", behavior="inclusive")))
    exclusive = _flat(_text(_issued(customer, "EUR", behavior="exclusive")))

    assert "Unit price (incl. VAT)" in inclusive and "Unit price (excl. VAT)" in exclusive


def test_several_lines_with_a_discount_show_each_line_and_add_up():
    _german_vat()
    lines = [
        services.LineSpec(description="Premium", unit_amount=Money("19.99", "EUR"), discount=Money("5.00", "EUR")),
        services.LineSpec(description="Extra screen", unit_amount=Money("2.50", "EUR"), quantity=2),
    ]
    invoice = _issued(CustomerFactory(country="DE"), "EUR", lines=lines)
    first, second = invoice.lines.order_by("position")

    text = _text(invoice)

    assert line_with(text, "Premium") == f"Premium 1 19.99 5.00 {_en(first.net)} 19% {_en(first.tax_amount)} 14.99"
    assert line_with(text, "Extra screen") == (
        f"Extra screen 2 2.50 0.00 {_en(second.net)} 19% {_en(second.tax_amount)} 5.00"
    )
    lines = text.splitlines()
    assert "Subtotal EUR 24.99" in lines and "Discount EUR 5.00" in lines and "Total EUR 19.99" in lines
    assert f"VAT EUR {_en(invoice.tax_total)}" in lines


def test_a_service_period_is_the_date_of_supply_and_shown_on_its_line():
    _german_vat()
    invoice = _issued(CustomerFactory(country="DE"), "EUR", period=True)

    text = _text(invoice)

    assert line_with(text, "Date of supply") == f"Date of supply January 31, 2027 {DASH} February 28, 2027"
    assert f"Service period: January 31, 2027 {DASH} February 28, 2027" in _flat(text)


# --- Untaxed, reverse-charged


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD"])
def test_an_invoice_where_the_seller_is_not_registered_charges_no_vat(currency):
    invoice = _issued(CustomerFactory(country="FR", name="Anna Müller"), currency)
    assert invoice.tax_status == Invoice.TaxStatus.NOT_REGISTERED
    price = SHOWN[currency][0]

    text = _text(invoice)

    assert line_with(text, "Monthly plan") == f"Monthly plan 1 {price} {price} {DASH} {ZERO[currency]} {price}"
    assert "No VAT charged." in text
    assert "VAT per rate" not in text and "Reverse charge" not in text
    assert "France" in text
    lines = text.splitlines()
    assert f"VAT {currency} {ZERO[currency]}" in lines and f"Total {currency} {price}" in lines


@pytest.mark.parametrize("currency", ["EUR", "KWD"])
def test_a_business_of_another_member_state_is_reverse_charged_with_both_vat_ids(currency):
    shipped_rates_loaded()
    registration(country="DE", scheme="eu_oss", number="EU276012345")
    invoice = _issued(_business("FR", "FR40303265045"), currency)
    assert invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE
    price = SHOWN[currency][0]

    text = _text(invoice)

    assert "Exemple SARL" in text and "Anna Müller" in text and "France" in text
    assert "VAT ID: DE123456789" in text and "VAT ID: FR40303265045" in text
    assert line_with(text, "Monthly plan") == f"Monthly plan 1 {price} {price} 0% {ZERO[currency]} {price}"
    assert "VAT per rate (France)" in text
    assert f"0% {price} {ZERO[currency]}" in text.splitlines()
    assert "Reverse charge" in text.splitlines()
    assert "VAT reverse charge: the recipient accounts for the VAT (Article 196, Directive 2006/112/EC)." in _flat(text)
    assert f"Total {currency} {price}" in text.splitlines()


# --- Credit notes


def _paid(invoice: Invoice):
    card = sandbox_card(customer=invoice.customer, account=sandbox_account())
    payment = services.invoice_pay(invoice=invoice, payment_method=card)
    assert payment.status == "succeeded", payment.status
    return payment


@pytest.mark.parametrize(
    ("currency", "refund", "shown"), [("EUR", "5.00", "5.00"), ("JPY", "1500", "1,500"), ("KWD", "0.500", "0.500")]
)
def test_a_credit_note_names_the_invoice_it_corrects_and_credits_each_line_and_its_tax(currency, refund, shown):
    _german_vat()
    invoice = _issued(CustomerFactory(country="DE", name="Anna Müller", currency=currency), currency)
    payment = _paid(invoice)
    with time_machine.travel(ISSUED + dt.timedelta(days=3), tick=False):
        note = payment_refund(payment=payment, amount=Money(refund, currency)).credit_note
    (credited,) = note.lines.all()

    text = pdf_text(credit_note_document_render(note=note).content)

    assert text.splitlines()[0] == "Credit note"
    assert "Media Manager GmbH" in text and "VAT ID: DE123456789" in text and "Anna Müller" in text
    assert line_with(text, "Credit note number") == f"Credit note number {note.number}"
    assert line_with(text, "Issue date") == "Issue date February 3, 2027"
    assert line_with(text, "Corrects invoice") == f"Corrects invoice {invoice.number} of January 31, 2027"
    net, tax = _en(credited.net), _en(credited.tax)
    assert line_with(text, "Monthly plan") == f"Monthly plan {net} 19% {tax} {shown}"
    assert f"19% {net} {tax}" in text.splitlines()
    lines = text.splitlines()
    assert f"Total net credited (excl. VAT) {currency} {net}" in lines
    assert f"VAT credited {currency} {tax}" in lines
    assert f"Total credited {currency} {shown}" in lines


def test_a_credit_note_of_a_reverse_charged_invoice_says_reverse_charge():
    shipped_rates_loaded()
    registration(country="DE", scheme="eu_oss", number="EU276012345")
    invoice = _issued(_business("FR", "FR40303265045"), "EUR")
    note = payment_refund(payment=_paid(invoice), amount=Money("2.00", "EUR")).credit_note

    text = pdf_text(credit_note_document_render(note=note).content)

    assert "VAT ID: FR40303265045" in text and "Reverse charge" in text.splitlines()
    assert "Total credited EUR 2.00" in text.splitlines()


# --- The customer's language


def test_a_german_customer_gets_a_german_invoice_with_german_numbers_and_dates():
    _german_vat()
    invoice = _issued(CustomerFactory(country="DE", preferred_locale="de-DE"), "EUR", period=True)

    text = _text(invoice)

    assert text.splitlines()[0] == "Rechnung"
    assert line_with(text, "Rechnungsnummer") == f"Rechnungsnummer {invoice.number}"
    assert line_with(text, "Rechnungsdatum") == "Rechnungsdatum 31. Januar 2027"
    assert line_with(text, "Leistungsdatum") == f"Leistungsdatum 31. Januar 2027 {DASH} 28. Februar 2027"
    assert "USt-IdNr.: DE123456789" in text and "Deutschland" in text
    assert line_with(text, "Monthly plan") == "Monthly plan 1 9,99 8,39 19 % 1,60 9,99"
    assert "Umsatzsteuer je Steuersatz (Deutschland)" in text
    lines = text.splitlines()
    assert "Summe netto (ohne USt.) 8,39 EUR" in lines and "Gesamt 9,99 EUR" in lines
    assert "Die Preise enthalten die Umsatzsteuer." in text


def test_a_german_reverse_charge_invoice_says_so_in_german_and_a_credit_note_in_german_too():
    shipped_rates_loaded()
    registration(country="DE", scheme="eu_oss", number="EU276012345")
    invoice = _issued(_business("AT", "ATU13585627", preferred_locale="de-AT"), "EUR")
    assert invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE

    text = _flat(_text(invoice))

    assert "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge)" in text
    assert "Die Umsatzsteuer schuldet der Leistungsempfänger (Artikel 196 der Richtlinie 2006/112/EG)." in text
    assert "Rechnungsdatum 31. Jänner 2027" in text  # Austrian German names January Jänner
    assert "Österreich" in text and "USt-IdNr.: ATU13585627" in text

    note = payment_refund(payment=_paid(invoice), amount=Money("1.00", "EUR")).credit_note
    note_text = _flat(pdf_text(credit_note_document_render(note=note).content))
    assert note_text.startswith("Rechnungskorrektur")  # not "Gutschrift", German VAT law's self-billing
    assert "Ausstellungsdatum" in note_text and "Rechnungsdatum" not in note_text
    assert f"Berichtigt die Rechnung {invoice.number} vom 31. Jänner 2027" in note_text
    assert "Gutgeschrieben gesamt EUR 1,00" in note_text  # de-AT writes the code first


def test_a_language_without_documents_of_its_own_gets_english():
    invoice = _issued(CustomerFactory(country="FR", preferred_locale="fr-FR"), "EUR")

    text = _text(invoice)

    assert text.splitlines()[0] == "Invoice" and "Total EUR 9.99" in text.splitlines()


def test_every_font_of_a_document_is_embedded():
    import shutil
    import subprocess

    pdffonts = shutil.which("pdffonts")
    if pdffonts is None:
        pytest.skip("pdffonts (poppler-utils) is not installed")
    content = invoice_document_render(invoice=_issued(CustomerFactory(), "EUR")).content

    listing = subprocess.run([pdffonts, "-"], input=content, capture_output=True, check=True).stdout.decode()

    fonts = listing.splitlines()[2:]
    assert fonts and all(" yes " in row for row in fonts), listing
    assert all("Document-Sans" in row for row in fonts), listing
