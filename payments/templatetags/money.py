from django import template
from moneyed import Money

from payments.currency import format_amount

register = template.Library()


@register.filter
def money(value: Money) -> str:
    """`9.99 EUR`, `1500 JPY`, `1.250 KWD`: exactly the currency's digits."""
    if value is None:
        return ""
    return f"{format_amount(value.amount, value.currency.code)} {value.currency.code}"
