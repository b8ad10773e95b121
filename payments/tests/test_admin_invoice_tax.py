"""The operators' side of taxed invoices in the admin: an invoice's and a credit note's tax on
their pages (rates, tax per rate, "Reverse charge", the evidence), the invoice list's tax columns
and filters, finance's "Tax evidence to review" with its audited "mark reviewed", for finance only,
and the tax columns of finance's CSV exports."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from moneyed import Money

from conftest import sign_in_verified, staff_in_role
from integrations.kernel.models import AuditEvent
from payments import services
from payments.models import CreditNote, Invoice
from payments.tests.admin_helpers import INVOICES, _listed
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from payments.tests.tax_helpers import registration, shipped_rates_loaded

pytestmark = pytest.mark.django_db

REVIEW = "/admin/payments/invoiceevidencereview/"
CREDIT_NOTES = "/admin/payments/creditnote/"


@pytest.fixture(autouse=True)
def _tax_on(settings):
    """German seller, an OSS registration: French consumers pay French VAT (20%)."""
    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()
    registration(country="DE", scheme="eu_oss")


@pytest.fixture
def finance():
    return sign_in_verified(Client(), staff_in_role("finance"))


def _invoice(*, card_country: str, customer=None, behavior: str = "inclusive", amount: str = "9.99") -> Invoice:
    """A finalized invoice for a French customer (billing FR) paying with a card of `card_country`."""
    customer = customer or CustomerFactory(country="FR")
    invoice = services.invoice_create(
        customer=customer,
        currency="EUR",
        lines=[services.LineSpec(description="Monthly", unit_amount=Money(amount, "EUR"))],
        terms=services.TaxTerms(behavior=behavior, card_country=card_country),
    )
    return services.invoice_finalize(invoice=invoice)


def _business_customer():
    """A French business with a verified VAT id: reverse-charged by a German seller."""
    return CustomerFactory(
        country="FR",
        business_name="Acme SARL",
        tax_id="FR40303265045",
        tax_id_country="FR",
        tax_id_status="verified",
        tax_id_verified_at=timezone.now(),
    )


def _export(client, url: str, *pks: str) -> list[dict]:
    response = client.post(url, {"action": "export_csv", "_selected_action": list(pks)})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _paid_and_refunded(invoice: Invoice, amount: str) -> CreditNote:
    account = sandbox_account()
    payment = services.invoice_pay(
        invoice=invoice, payment_method=sandbox_card(customer=invoice.customer, account=account)
    )
    refund = services.payment_refund(payment=payment, amount=Money(amount, "EUR"))
    return CreditNote.objects.get(refund=refund)


# --- The invoice's page and list ------------------------------------------------------------------


def test_the_invoice_page_shows_its_rate_tax_per_rate_evidence_and_each_lines_net_and_tax(finance):
    invoice = _invoice(card_country="DE")  # 9.99 inclusive at 20%: 8.33 + 1.66

    html = finance.get(f"{INVOICES}{invoice.pk}/change/").content.decode()

    assert "Tax collected" in html
    assert "Inclusive: the prices include the tax" in html
    assert '<table class="tax-breakdown">' in html
    breakdown = html[html.index('<table class="tax-breakdown">') :]
    breakdown = breakdown[: breakdown.index("</table>")]
    assert "<td>FR</td><td>20%</td><td>€8.33</td><td>€1.66</td>" in breakdown
    assert "Inconclusive" in html  # FR billing, DE card, no IP country
    assert "€8.33" in html and "€1.66" in html and "€9.99" in html
    lines = html[html.index('id="lines-group"') :]
    assert "20%" in lines and "€8.33" in lines and "€1.66" in lines


def test_the_invoice_page_says_reverse_charge_and_shows_the_buyers_name_and_vat_id(finance):
    invoice = _invoice(card_country="FR", customer=_business_customer())
    assert invoice.tax_status == Invoice.TaxStatus.REVERSE_CHARGE and invoice.tax_total.amount == 0

    html = finance.get(f"{INVOICES}{invoice.pk}/change/").content.decode()

    assert "Reverse charge" in html
    assert "Acme SARL" in html and "FR40303265045" in html
    assert "<td>FR</td><td>0%</td><td>€9.99</td><td>€0.00</td><td>Reverse charge</td>" in html
    assert "Conclusive" in html


def test_the_invoice_page_of_an_untaxed_invoice_says_why_and_shows_no_breakdown(finance):
    invoice = _invoice(card_country="US", customer=CustomerFactory(country="US"))

    html = finance.get(f"{INVOICES}{invoice.pk}/change/").content.decode()

    assert invoice.tax_status == Invoice.TaxStatus.NOT_REGISTERED
    assert "No tax: not registered there" in html
    assert '<table class="tax-breakdown">' not in html


def test_support_who_may_view_invoices_sees_their_lines_too():
    invoice = _invoice(card_country="DE")
    support = sign_in_verified(Client(), staff_in_role("support"))

    html = support.get(f"{INVOICES}{invoice.pk}/change/").content.decode()

    lines = html[html.index('id="lines-group"') :]
    assert "Monthly" in lines and "20%" in lines and "€1.66" in lines


def test_the_invoice_page_stays_read_only_for_finance(finance):
    invoice = _invoice(card_country="DE")

    assert finance.post(f"{INVOICES}{invoice.pk}/change/", {"tax_country": "DE"}).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).tax_country == "FR"


def test_the_invoice_list_shows_tax_and_country_and_filters_on_evidence_status_behaviour_and_country(finance):
    inconclusive = _invoice(card_country="DE")
    conclusive = _invoice(card_country="FR", behavior="exclusive", amount="10.00")  # 10.00 + 2.00
    reverse = _invoice(card_country="FR", customer=_business_customer())
    german = _invoice(card_country="DE", customer=CustomerFactory(country="DE"))

    listing = finance.get(INVOICES)
    html = listing.content.decode()

    assert "€1.66" in html and "€2.00" in html
    assert '<td class="field-tax_place">FR</td>' in html and '<td class="field-tax_place">DE</td>' in html
    assert _listed(finance.get(INVOICES, {"tax_evidence": "inconclusive"})) == [inconclusive.pk]
    assert set(_listed(finance.get(INVOICES, {"tax_evidence": "conclusive"}))) == {conclusive.pk, reverse.pk, german.pk}
    assert _listed(finance.get(INVOICES, {"tax_status": "reverse_charge"})) == [reverse.pk]
    assert _listed(finance.get(INVOICES, {"tax_behaviour": "exclusive"})) == [conclusive.pk]
    assert _listed(finance.get(INVOICES, {"tax_country": "DE"})) == [german.pk]


def test_a_tax_filter_given_nonsense_lists_everything_rather_than_failing(finance):
    invoice = _invoice(card_country="DE")

    for params in ({"tax_country": "not a country"}, {"tax_status": "bogus"}, {"tax_evidence": "maybe"}):
        response = finance.get(INVOICES, params)
        assert response.status_code in (200, 302), params
        if response.status_code == 200:
            assert _listed(response) == [invoice.pk]


# --- Tax evidence to review -----------------------------------------------------------------------


def test_the_review_list_shows_finalized_taxed_inconclusive_invoices_newest_first_with_the_three_countries(finance):
    older = _invoice(card_country="DE")
    conclusive = _invoice(card_country="FR")
    untaxed = _invoice(card_country="DE", customer=CustomerFactory(country="US"))  # not registered in the US
    draft = services.invoice_create(
        customer=CustomerFactory(country="FR"),
        currency="EUR",
        lines=[services.LineSpec(description="Monthly", unit_amount=Money("9.99", "EUR"))],
        terms=services.TaxTerms(card_country="DE"),
    )
    voided = services.invoice_void(invoice=_invoice(card_country="DE"))
    newer = _invoice(card_country="DE")
    assert conclusive.tax_evidence_conclusive is not False and untaxed.tax_evidence_conclusive is False

    response = finance.get(REVIEW)

    assert response.status_code == 200
    assert _listed(response) == [newer.pk, older.pk]
    assert {conclusive.pk, untaxed.pk, draft.pk, voided.pk}.isdisjoint(_listed(response))
    html = response.content.decode()
    row = html[html.index(newer.number) :]
    row = row[: row.index("</tr>")]
    assert '<td class="field-billing_country">FR</td>' in row
    assert '<td class="field-card_country">DE</td>' in row
    assert '<td class="field-ip_country_shown">-</td>' in row


def test_finance_finds_the_review_list_in_its_group_and_opens_an_invoice_from_it(finance):
    invoice = _invoice(card_country="DE")

    index = finance.get("/admin/").content.decode()
    page = finance.get(f"{REVIEW}{invoice.pk}/change/")

    assert REVIEW in index and "Tax evidence to review" in index
    assert page.status_code == 200
    assert "20%" in page.content.decode() and "Inconclusive" in page.content.decode()


@pytest.mark.parametrize("role", ["support", "marketing", "catalogue"])
def test_other_roles_cannot_see_the_review_list(role):
    invoice = _invoice(card_country="DE")
    staff = sign_in_verified(Client(), staff_in_role(role))

    assert REVIEW not in staff.get("/admin/").content.decode()
    assert staff.get(REVIEW).status_code == 403
    refused = staff.post(REVIEW, {"action": "mark_reviewed", "confirm": "yes", "_selected_action": [invoice.pk]})
    assert refused.status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).tax_evidence_reviewed_at is None


def test_marking_reviewed_asks_first_then_keeps_who_and_when_and_the_invoice_leaves_the_list(finance):
    invoice = _invoice(card_country="DE")
    other = _invoice(card_country="DE")
    form = {"action": "mark_reviewed", "_selected_action": [invoice.pk]}

    asked = finance.post(REVIEW, form)

    assert asked.status_code == 200 and "Mark the tax evidence reviewed?" in asked.content.decode()
    assert Invoice.objects.get(pk=invoice.pk).tax_evidence_reviewed_at is None

    done = finance.post(REVIEW, {**form, "confirm": "yes"})

    assert done.status_code == 302
    reviewed = Invoice.objects.get(pk=invoice.pk)
    assert reviewed.tax_evidence_reviewed_at is not None
    assert reviewed.tax_evidence_reviewed_by.username == "finance-user"
    assert (reviewed.tax_status, reviewed.tax_total, reviewed.tax_country) == (
        invoice.tax_status,
        invoice.tax_total,
        invoice.tax_country,
    )
    assert _listed(finance.get(REVIEW)) == [other.pk]
    assert _listed(finance.get(REVIEW, {"review": "reviewed"})) == [invoice.pk]
    assert set(_listed(finance.get(REVIEW, {"review": "all"}))) == {invoice.pk, other.pk}
    audited = AuditEvent.objects.get(action="invoice.updated", object_id=invoice.pk)
    assert set(audited.changes) == {"tax_evidence_reviewed_at", "tax_evidence_reviewed_by"}
    assert audited.actor_name == "finance-user"
    assert AuditEvent.objects.filter(
        action="invoice_evidence_review.mark_reviewed", object_id=invoice.pk, outcome="succeeded"
    ).exists()


def test_marking_an_invoice_reviewed_twice_says_so_and_keeps_the_first_review(finance):
    invoice = _invoice(card_country="DE")
    form = {"action": "mark_reviewed", "confirm": "yes", "_selected_action": [invoice.pk]}
    finance.post(REVIEW, form)
    first = Invoice.objects.get(pk=invoice.pk).tax_evidence_reviewed_at

    again = finance.post(REVIEW + "?review=all", form, follow=True)

    assert "already reviewed" in again.content.decode()
    assert Invoice.objects.get(pk=invoice.pk).tax_evidence_reviewed_at == first


# --- Credit notes ---------------------------------------------------------------------------------


def test_the_credit_note_page_shows_its_tax_per_rate_and_each_lines_net_and_tax(finance):
    note = _paid_and_refunded(_invoice(card_country="FR"), "6.00")  # 6.00 at 20% inclusive: 5.00 + 1.00

    html = finance.get(f"{CREDIT_NOTES}{note.pk}/change/").content.decode()

    assert (note.subtotal.amount, note.tax.amount) == (Decimal("5.00"), Decimal("1.00"))
    assert "<td>FR</td><td>20%</td><td>€5.00</td><td>€1.00</td>" in html
    lines = html[html.index('id="lines-group"') :]
    assert "Monthly" in lines and "20%" in lines and "€5.00" in lines and "€1.00" in lines


# --- Finance's CSV exports ------------------------------------------------------------------------


def test_the_invoice_export_has_net_tax_status_country_rates_reverse_charge_and_evidence(finance):
    taxed = _invoice(card_country="DE")
    reverse = _invoice(card_country="FR", customer=_business_customer())
    exclusive = _invoice(card_country="FR", behavior="exclusive", amount="10.00")

    rows = {row["id"]: row for row in _export(finance, INVOICES, taxed.pk, reverse.pk, exclusive.pk)}

    assert {k: rows[taxed.pk][k] for k in ("net", "tax_total", "total", "tax_status", "tax_country")} == {
        "net": "8.33",
        "tax_total": "1.66",
        "total": "9.99",
        "tax_status": "collecting",
        "tax_country": "FR",
    }
    assert (rows[taxed.pk]["tax_rates"], rows[taxed.pk]["reverse_charge"]) == ("0.2", "False")
    assert rows[taxed.pk]["tax_evidence_conclusive"] == "False"
    assert rows[taxed.pk]["tax_inclusive"] == "True"
    assert (rows[reverse.pk]["tax_status"], rows[reverse.pk]["tax_rates"], rows[reverse.pk]["reverse_charge"]) == (
        "reverse_charge",
        "0",
        "True",
    )
    assert (rows[reverse.pk]["net"], rows[reverse.pk]["tax_total"]) == ("9.99", "0.00")
    assert rows[reverse.pk]["tax_evidence_conclusive"] == "True"
    # What an EC sales list of the reverse-charged sales needs: the buyer and their VAT id.
    assert rows[reverse.pk]["buyer_tax_id"].startswith("FR") and rows[reverse.pk]["buyer_business_name"]
    assert (rows[taxed.pk]["buyer_tax_id"], rows[taxed.pk]["buyer_business_name"]) == ("", "")
    assert (rows[exclusive.pk]["net"], rows[exclusive.pk]["tax_total"], rows[exclusive.pk]["total"]) == (
        "10.00",
        "2.00",
        "12.00",
    )


def test_the_invoice_export_reads_the_lines_once_not_once_per_invoice(finance, django_assert_max_num_queries):
    invoices = [_invoice(card_country="DE") for _ in range(6)]
    _export(finance, INVOICES, invoices[0].pk)

    with django_assert_max_num_queries(25) as few:
        _export(finance, INVOICES, *(invoice.pk for invoice in invoices))
    with django_assert_max_num_queries(len(few.captured_queries)):
        _export(finance, INVOICES, *(invoice.pk for invoice in invoices[:2]))


def test_the_credit_note_export_has_the_tax_country_and_rate(finance):
    note = _paid_and_refunded(_invoice(card_country="FR"), "6.00")

    [row] = _export(finance, CREDIT_NOTES, note.pk)

    assert (row["subtotal"], row["tax"], row["total"]) == ("5.00", "1.00", "6.00")
    assert (row["tax_country"], row["tax_rates"], row["reverse_charge"]) == ("FR", "0.2", "False")


def test_the_review_list_exports_with_the_same_columns_and_neutralises_formula_cells(finance):
    invoice = _invoice(card_country="DE")
    Invoice.objects.filter(pk=invoice.pk).update(description="=HYPERLINK(1)")

    [row] = _export(finance, REVIEW, invoice.pk)

    assert row["id"] == invoice.pk and row["tax_evidence_conclusive"] == "False"
    assert row["description"] == "'=HYPERLINK(1)"
    assert AuditEvent.objects.filter(action="invoice_evidence_review.exported").exists()
