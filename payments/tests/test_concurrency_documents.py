"""Two first requests for a document at once (PostgreSQL, real threads): one PDF is rendered and
stored, and both answer its bytes, whether the document was frozen at finalization or (an invoice
finalized before documents existed) is made by the first request."""

import hashlib
import threading
import time

import pytest

from integrations.tests.concurrency import run_at_once
from payments.documents import rendering
from payments.models import InvoiceDocument
from payments.services import invoice_document_render
from payments.tests.factories import CustomerFactory, open_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6


@pytest.fixture
def slow_renders(monkeypatch):
    """Counts renders, each slow enough that every thread arrives while the first is rendering."""
    calls, lock = [], threading.Lock()
    real = rendering.pdf_render

    def slow(snapshot):
        with lock:
            calls.append(snapshot["number"])
        time.sleep(0.3)
        return real(snapshot)

    monkeypatch.setattr(rendering, "pdf_render", slow)
    return calls


def _all_at_once(invoice):
    results = run_at_once(lambda: invoice_document_render(invoice=invoice), [() for _ in range(THREADS)])
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


@pytest.mark.parametrize("frozen_first", [True, False], ids=["frozen-at-finalization", "made-on-first-request"])
def test_first_requests_at_once_store_one_document_rendered_once(slow_renders, frozen_first):
    invoice = open_invoice(customer=CustomerFactory())
    if not frozen_first:
        InvoiceDocument.objects.filter(invoice=invoice).delete()

    results = _all_at_once(invoice)

    assert slow_renders == [invoice.number]
    assert InvoiceDocument.objects.filter(invoice=invoice).count() == 1
    stored = InvoiceDocument.objects.get(invoice=invoice)
    assert stored.sha256 == hashlib.sha256(stored.content).hexdigest()
    assert {bytes(r.content) for r in results} == {bytes(stored.content)}
    assert {r.sha256 for r in results} == {stored.sha256}
