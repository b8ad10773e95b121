"""How payments' resources look outside: in the API and in event payloads (one function each)."""

from payments.currency import money_repr
from payments.models import (
    Customer,
    GatewayAccount,
    Invoice,
    Payment,
    PaymentMethod,
    Refund,
)


def customer_payload(customer: Customer) -> dict:
    return {
        "id": customer.id,
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "country": customer.country,
        "currency": customer.currency,
    }


def gateway_account_payload(account: GatewayAccount) -> dict:
    return {
        "id": account.id,
        "provider": account.provider,
        "display_name": account.display_name,
        "countries": account.countries,
        "currencies": account.currencies,
        "priority": account.priority,
        "active": account.active,
    }


def payment_method_payload(method: PaymentMethod) -> dict:
    return {
        "id": method.id,
        "customer": method.customer_id,
        "gateway": method.gateway_account_id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "is_default": method.is_default,
    }


def invoice_payload(invoice: Invoice) -> dict:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "customer": invoice.customer_id,
        "status": invoice.status,
        "total": money_repr(invoice.total),
        "source": invoice.source,
    }


def payment_payload(payment: Payment) -> dict:
    return {
        "id": payment.id,
        "customer": payment.customer_id,
        "invoice": payment.invoice_id,
        "gateway": payment.gateway_account_id,
        "status": payment.status,
        "amount": money_repr(payment.amount),
        "decline_code": payment.decline_code or None,
        "off_session": payment.off_session,
    }


def refund_payload(refund: Refund) -> dict:
    return {
        "id": refund.id,
        "payment": refund.payment_id,
        "amount": money_repr(refund.amount),
        "status": refund.status,
        "reason": refund.reason,
    }
