"""invoice_tax_evidence_review: finance's review of an invoice's inconclusive location evidence
keeps who and when, never changes the tax, and is refused for an invoice not on the review list."""

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from moneyed import Money

from integrations.kernel.errors import Unprocessable
from payments import services
from payments.models import Invoice
from payments.selectors import invoice_list_evidence_inconclusive
from payments.tests.factories import CustomerFactory
from payments.tests.tax_helpers import registration, shipped_rates_loaded

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tax_on(settings):
    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()
    registration(country="DE", scheme="eu_oss")


@pytest.fixture
def reviewer():
    return get_user_model().objects.create_user("reviewer", is_staff=True)


def _draft(*, card_country: str, country: str = "FR") -> Invoice:
    return services.invoice_create(
        customer=CustomerFactory(country=country),
        currency="EUR",
        lines=[services.LineSpec(description="Monthly", unit_amount=Money("9.99", "EUR"))],
        terms=services.TaxTerms(card_country=card_country),
    )


def _finalized(**kwargs) -> Invoice:
    return services.invoice_finalize(invoice=_draft(**kwargs))


def test_reviewing_keeps_who_and_when_and_leaves_the_tax_as_it_was(reviewer):
    invoice = _finalized(card_country="DE")

    reviewed, done = services.invoice_tax_evidence_review(invoice=invoice, reviewer=reviewer)

    assert done is True and reviewed.pk == invoice.pk
    stored = Invoice.objects.get(pk=invoice.pk)
    assert stored.tax_evidence_reviewed_by == reviewer and stored.tax_evidence_reviewed_at is not None
    assert (stored.tax_status, stored.tax_country, stored.tax_total, stored.total) == (
        invoice.tax_status,
        invoice.tax_country,
        invoice.tax_total,
        invoice.total,
    )
    assert stored.tax_evidence_conclusive is False


def test_reviewing_again_changes_nothing_and_says_so(reviewer):
    invoice = _finalized(card_country="DE")
    first, _ = services.invoice_tax_evidence_review(invoice=invoice, reviewer=reviewer)
    other = get_user_model().objects.create_user("other", is_staff=True)

    again, done = services.invoice_tax_evidence_review(invoice=invoice, reviewer=other)

    assert done is False
    assert (again.tax_evidence_reviewed_at, again.tax_evidence_reviewed_by_id) == (
        first.tax_evidence_reviewed_at,
        reviewer.pk,
    )


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _finalized(card_country="FR"), id="conclusive"),
        pytest.param(lambda: _draft(card_country="DE"), id="draft"),
        pytest.param(lambda: services.invoice_void(invoice=_finalized(card_country="DE")), id="void"),
        pytest.param(lambda: _finalized(card_country="DE", country="US"), id="untaxed"),
    ],
)
def test_an_invoice_not_on_the_review_list_is_refused(reviewer, make):
    invoice = make()
    assert invoice not in invoice_list_evidence_inconclusive()

    with pytest.raises(Unprocessable) as refused:
        services.invoice_tax_evidence_review(invoice=invoice, reviewer=reviewer)

    assert refused.value.code == "invoice_evidence_not_reviewable"
    assert Invoice.objects.get(pk=invoice.pk).tax_evidence_reviewed_at is None


def test_the_database_refuses_a_review_on_conclusive_evidence():
    invoice = _finalized(card_country="FR")

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(tax_evidence_reviewed_at=invoice.created_at)
