"""Columns more than one payments screen shows."""

from django.contrib import admin
from djmoney.money import Money  # django-money's Money formats like the MoneyFields beside it

from integrations.kernel.admin import CsvExportMixin
from payments.currency import format_amount
from payments.models import (
    Payment,
    PaymentMethod,
)


@admin.display(description="refunded")
def _payment_refunded(payment: Payment) -> Money:
    return Money(payment.amount_refunded, payment.amount.currency)


@admin.display(description="expiry")
def _card_expiry(method: PaymentMethod) -> str:
    return f"{method.exp_month:02d}/{method.exp_year}"


class FinanceExportMixin(CsvExportMixin):
    """Finance's CSV exports: amounts with their currency's digits, for the finance role."""

    export_permission = "payments.export_finance"

    def export_value(self, value):
        if isinstance(value, Money):
            return format_amount(value.amount, value.currency.code)
        return super().export_value(value)
