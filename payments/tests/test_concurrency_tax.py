"""Races on tax registrations and rate rows on PostgreSQL with real threads: the name locks of
payments/tax/services.py make the overlap and new-row rules hold when operators act at once."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.kernel.clock import running_at
from integrations.kernel.errors import Conflict
from integrations.tests.concurrency import run_at_once
from payments.tax.models import TaxRate, TaxRegistration
from payments.tax.services import tax_rate_add
from payments.tests.tax_helpers import registration, shipped_rates_loaded

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 4


def test_oss_registrations_racing_for_the_same_days_make_exactly_one(settings):
    settings.TAX_SELLER_COUNTRY = "DE"
    shipped_rates_loaded()

    results = run_at_once(
        lambda number: registration(scheme="eu_oss", number=number).id, [(f"DE00000000{i}",) for i in range(THREADS)]
    )

    assert sum(isinstance(r, str) for r in results) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, str)), results
    assert TaxRegistration.objects.count() == 1


def test_rate_changes_racing_on_one_country_leave_one_open_row_and_no_gap():
    shipped_rates_loaded()
    starts = [dt.date(2027, 1, 1) + dt.timedelta(days=30 * i) for i in range(THREADS)]

    def add(start):
        with running_at(timezone.make_aware(dt.datetime(2026, 6, 1, 12), dt.UTC)):
            return tax_rate_add(
                country="DE",
                name="VAT",
                rate="0.2",
                valid_from=start,
                source="https://example.org/x",
                source_date=start,
            )

    results = run_at_once(add, [(start,) for start in starts])

    assert not [r for r in results if isinstance(r, Exception)], results
    rows = list(TaxRate.objects.filter(country="DE", category="digital_services").order_by("valid_from"))
    assert [row.valid_to for row in rows[:-1]] == [
        row.valid_from for row in rows[1:]
    ]  # each ends where the next starts
    assert rows[-1].valid_to is None and rows[-1].valid_from == starts[-1]
    assert [row.rate for row in rows[-THREADS:]] == [Decimal("0.2")] * THREADS
