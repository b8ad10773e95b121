"""A document's PDF from its snapshot: the template (templates/documents/) in the snapshot's
language, numbers and dates in its locale, laid out by WeasyPrint. Nothing is fetched from outside:
the only URLs a document may name are our own static files (`document-static:<path>`), read from
the static-file finders; any other URL (http, file, data) is refused and logged."""

import logging
import mimetypes
from decimal import Decimal
from functools import cache

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from payments.documents.formatting import (
    amount_text,
    country_text,
    date_text,
    document_locale,
    money_text,
    rate_text,
)

logger = logging.getLogger("payments.documents")

STATIC_SCHEME = "document-static:"
TEMPLATES = {"invoice": "documents/invoice.html", "credit_note": "documents/credit_note.html"}
REVERSE_CHARGE_ARTICLE = gettext_noop("Article 196, Directive 2006/112/EC")  # the VAT Directive's reverse charge


class StaticFilesOnly(URLFetcher):
    """WeasyPrint's fetcher for documents: our own static files, nothing else."""

    def fetch(self, url, headers=None):
        if not url.startswith(STATIC_SCHEME):
            logger.warning("A document asked for %r: refused (documents read only their own static files)", url[:200])
            raise ValueError("Documents read only their own static files.")
        return URLFetcherResponse(url, body=_static_bytes(url[len(STATIC_SCHEME) :]), headers=_headers(url))


def _headers(url: str) -> dict:
    return {"Content-Type": mimetypes.guess_type(url)[0] or "application/octet-stream"}


@cache
def _static_bytes(path: str) -> bytes:
    found = finders.find(path)  # a path that leaves the static folders is refused (SuspiciousFileOperation)
    if not found or isinstance(found, list):
        raise ValueError(f"No static file {path!r}.")
    with open(found, "rb") as file:
        return file.read()


def _period(line: dict, locale) -> str:
    if not line.get("period_start"):
        return ""
    return f"{date_text(line['period_start'], locale)} \u2013 {date_text(line['period_end'], locale)}"


def _party(party: dict, locale, *, literal_breaks: bool = False) -> dict:
    place = country_text(party["country"], locale)
    if party.get("subdivision"):
        place = f"{party['subdivision']}, {place}"
    address = party["address"]
    if literal_breaks:  # TAX_SELLER_ADDRESS from the environment writes its line breaks as a literal \n
        address = address.replace("\\n", "\n")
    rows = address.splitlines()
    return {**party, "address_lines": [row.strip() for row in rows if row.strip()], "place": place}


def document_context(snapshot: dict) -> dict:
    """The template's context: every figure of the snapshot as the document's locale writes it.
    Call inside translation.override(the document's language)."""
    language, locale = document_locale(snapshot.get("language") or "")
    currency = snapshot["currency"]

    def amount(value: str) -> str:
        return amount_text(value, currency, locale)

    def total(value: str) -> str:
        return money_text(value, currency, locale)

    tax = snapshot["tax"]
    lines = []
    for line in snapshot["lines"]:
        shown = {
            **line,
            "period": _period(line, locale),
            "net": amount(line["net"]),
            "tax": amount(line["tax"]),
            "total": amount(line["total"]),
            "tax_rate": rate_text(line["tax_rate"], locale) if tax["taxed"] else "\u2013",
        }
        if "unit_amount" in line:
            shown.update(unit_amount=amount(line["unit_amount"]), discount=amount(line["discount"]))
        lines.append(shown)
    periods = {line["period"] for line in lines if line["period"]}
    context = {
        "kind": snapshot["kind"],
        "language": language,
        "number": snapshot["number"],
        "currency": currency,
        "issued_on": date_text(snapshot["issued_at"], locale),
        "supplied": periods.pop() if len(periods) == 1 and all(line["period"] for line in lines) else "",
        "seller": _party(snapshot["seller"], locale, literal_breaks=True),
        "buyer": _party(snapshot["buyer"], locale),
        "lines": lines,
        "has_discount": any(Decimal(line.get("discount") or 0) for line in snapshot["lines"]),
        "tax": {
            **tax,
            "breakdown": [
                {"rate": rate_text(row["rate"], locale), "taxable": amount(row["taxable"]), "tax": amount(row["tax"])}
                for row in tax["breakdown"]
            ],
            "country_name": country_text(tax["country"], locale),
            "reverse_charge_text": _("VAT reverse charge: the recipient accounts for the VAT (%(article)s).")
            % {"article": _(REVERSE_CHARGE_ARTICLE)},
        },
        "net": total(snapshot["net"]),
        "tax_total": total(snapshot["tax_total"]),
        "total": total(snapshot["total"]),
    }
    if snapshot["kind"] == "invoice":
        context.update(subtotal=total(snapshot["subtotal"]), discount=total(snapshot["discount"]))
    else:
        invoice = snapshot["invoice"]
        context["invoice"] = {
            **invoice,
            "issued_on": date_text(invoice["issued_at"], locale) if invoice["issued_at"] else "",
        }
    return context


def pdf_render(snapshot: dict) -> bytes:
    """The PDF of a snapshot (an invoice's or a credit note's), in its language."""
    language, _locale = document_locale(snapshot.get("language") or "")
    with translation.override(language):
        html = render_to_string(TEMPLATES[snapshot["kind"]], document_context(snapshot))
    return HTML(string=html, url_fetcher=StaticFilesOnly()).write_pdf()
