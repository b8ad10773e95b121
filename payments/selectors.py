from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from integrations.kernel.api.authentication import CustomerPrincipal
from integrations.kernel.errors import NotFound, Unprocessable
from payments.gateways.registry import provider_enabled
from payments.models import (
    CreditNote,
    CreditNoteLine,
    Customer,
    CustomerToken,
    GatewayAccount,
    GatewayCustomer,
    Invoice,
    Payment,
    PaymentMethod,
)


def customer_list(*, external_id: str | None = None, email: str | None = None) -> QuerySet[Customer]:
    customers = Customer.objects.all()
    if external_id is not None:
        customers = customers.filter(external_id=external_id)
    if email:
        customers = customers.filter(email__iexact=email)
    return customers


def customer_get(*, customer_id: str) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer '{customer_id}'.")
    return customer


def live_customer_token_sql() -> str:
    """The one test of a live customer token, as SQL for other queries to build on: its id
    (`token_id`) and `customer_id`. Parameters: the token's hash, now."""
    token = CustomerToken._meta.db_table
    return f"SELECT t.id AS token_id, t.customer_id FROM {token} t WHERE t.token_hash = %s AND t.expires_at > %s"  # noqa: S608 - identifiers from our models


def _customer_by_token_sql() -> str:
    customer = Customer._meta.db_table
    return f"SELECT c.*, t.token_id FROM ({live_customer_token_sql()}) t JOIN {customer} c ON c.id = t.customer_id"  # noqa: S608


def customer_token_resolve(raw: str, token_hash: str) -> tuple[CustomerPrincipal, CustomerToken] | None:
    """The kernel's resolver for `mmc_` bearer tokens: the customer behind a live token. Asked on
    every customer call (entitlement checks above all), so one query written out, not compiled."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    customer = next(iter(Customer.objects.raw(_customer_by_token_sql(), [token_hash, now])), None)
    if customer is None:
        return None
    token = CustomerToken.from_db(
        connection.alias, ["id", "customer_id", "token_hash"], [customer.token_id, customer.pk, token_hash]
    )
    token.customer = customer
    return CustomerPrincipal(customer=customer), token


def gateway_customer_reference_known(*, customer_id: str, gateway_account_id: str) -> str:
    """The customer's id at the gateway if one was made there ('' otherwise); never calls it."""
    row = GatewayCustomer.objects.filter(customer_id=customer_id, gateway_account_id=gateway_account_id).first()
    return row.reference if row else ""


def gateway_account_serves(account: GatewayAccount, *, country: str, currency: str) -> bool:
    """Whether new cards and customer-initiated charges may go through this account."""
    return account.active and provider_enabled(account.provider) and account.serves(country=country, currency=currency)


def gateway_account_route(*, country: str, currency: str) -> GatewayAccount:
    """The first active account, by priority, serving the country and the currency, passing over
    one that has just left calls unanswered (failover) while another serves; if none is
    answering, the first anyway (it may be back)."""
    now = timezone.now()
    serving = [
        account
        for account in GatewayAccount.objects.filter(active=True).order_by("priority", "created_at")
        if gateway_account_serves(account, country=country, currency=currency)
    ]
    for account in serving:
        if not account.unavailable(now):
            return account
    if serving:
        return serving[0]
    raise Unprocessable(
        f"No payment gateway serves {country} in {currency}.", code="no_gateway_available", param="currency"
    )


def payment_method_list(*, customer: Customer) -> QuerySet[PaymentMethod]:
    return PaymentMethod.objects.filter(customer=customer, detached_at__isnull=True)


def payment_method_get(*, customer: Customer, payment_method_id: str) -> PaymentMethod:
    method = payment_method_list(customer=customer).filter(pk=payment_method_id).first()
    if method is None:
        raise NotFound(f"No payment method '{payment_method_id}'.")
    return method


def payment_list(*, customer_id: str | None = None, status: str | None = None) -> QuerySet[Payment]:
    payments = Payment.objects.select_related("payment_method").prefetch_related("attempt_log")
    if customer_id:
        payments = payments.filter(customer_id=customer_id)
    if status:
        payments = payments.filter(status=status)
    return payments


def payment_get(*, payment_id: str, customer_id: str | None = None) -> Payment:
    payment = payment_list(customer_id=customer_id).filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(f"No payment '{payment_id}'.")
    return payment


def invoice_list(*, customer_id: str | None = None, status: str | None = None) -> QuerySet[Invoice]:
    invoices = Invoice.objects.prefetch_related("lines", "credit_notes")
    if customer_id:
        invoices = invoices.filter(customer_id=customer_id)
    if status:
        invoices = invoices.filter(status=status)
    return invoices


def invoice_get(*, invoice_id: str, customer_id: str | None = None) -> Invoice:
    invoice = invoice_list(customer_id=customer_id).filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"No invoice '{invoice_id}'.")
    return invoice


# Invoices whose location evidence finance reviews: finalized, taxed (collecting or reverse charge;
# where nothing is taxed the place changes nothing) and not voided (nothing was supplied), with fewer
# than two pieces of evidence agreeing. The partial index invoice_evidence_to_review serves it.
EVIDENCE_INCONCLUSIVE = (
    Q(tax_evidence_conclusive=False, finalized_at__isnull=False)
    & Q(tax_status__in=[Invoice.TaxStatus.COLLECTING, Invoice.TaxStatus.REVERSE_CHARGE])
    & ~Q(status=Invoice.Status.VOID)
)


def invoice_list_evidence_inconclusive(*, invoices: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """`invoices` (default: all; the admin passes its own queryset) whose evidence is to be
    reviewed, reviewed or not, newest first."""
    invoices = Invoice.objects.all() if invoices is None else invoices
    return invoices.filter(EVIDENCE_INCONCLUSIVE).order_by("-created_at", "-id")


def credit_note_list(*, invoice_id: str | None = None, customer_id: str | None = None) -> QuerySet[CreditNote]:
    notes = CreditNote.objects.select_related("invoice").prefetch_related(  # the invoice: its tax, per note
        Prefetch("lines", queryset=CreditNoteLine.objects.select_related("invoice_line"))
    )
    if invoice_id:
        notes = notes.filter(invoice_id=invoice_id)
    if customer_id:
        notes = notes.filter(invoice__customer_id=customer_id)
    return notes.order_by("-created_at", "-id")


def credit_note_get(*, credit_note_id: str) -> CreditNote:
    note = credit_note_list().filter(pk=credit_note_id).first()
    if note is None:
        raise NotFound(f"No credit note '{credit_note_id}'.")
    return note
