"""The discount arithmetic of coupons: how much a percent or amount discount takes off a subtotal,
and how an account-level and a subscription-level discount combine. Pure functions on `Money` and `Decimal`; no database.

Rounding is the one rule of `payments.currency`: half-up to the currency's minor unit.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from types import MappingProxyType
from typing import Literal

from moneyed import Money

from integrations.kernel.errors import InvalidRequest
from payments.currency import minor_digits, money, quantize

DiscountType = Literal["percent", "amount"]

HUNDRED = Decimal(100)


class CurrencyNotSupported(InvalidRequest):
    """An amount coupon has no amount in the currency being billed."""

    def __init__(self, message: str, *, code: str = "coupon_currency_unsupported", param: str | None = None):
        super().__init__(message, code=code, param=param)


class InvalidDiscountTerms(InvalidRequest):
    """Discount terms that cannot be applied: a percent outside (0, 100], a missing or non-positive
    amount, an amount with more digits than its currency has, or a float."""

    def __init__(self, message: str, *, code: str = "parameter_invalid", param: str | None = None):
        super().__init__(message, code=code, param=param)


@dataclass(frozen=True, kw_only=True)
class DiscountTerms:
    """What a coupon takes off: `percent_off` (0 < p <= 100) for type "percent", or `amounts_off`
    (one positive amount per currency, keyed by ISO code) for type "amount". `label` names the
    discount on an invoice. Free-trial coupons change the trial length, not an amount: no terms."""

    type: DiscountType
    label: str
    percent_off: Decimal | None = None
    amounts_off: Mapping[str, Money] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self):
        if self.type == "percent":
            self._check_percent()
        elif self.type == "amount":
            self._check_amounts()
        else:
            raise InvalidDiscountTerms(f"Unknown discount type {self.type!r}.", param="type")

    def _check_percent(self) -> None:
        percent = self.percent_off
        if self.amounts_off:
            raise InvalidDiscountTerms("A percent discount has no amounts.", param="amounts_off")
        if not isinstance(percent, Decimal) or not percent.is_finite():
            raise InvalidDiscountTerms("percent_off is a Decimal.", param="percent_off")
        if not 0 < percent <= HUNDRED:
            raise InvalidDiscountTerms("percent_off is more than 0 and at most 100.", param="percent_off")

    def _check_amounts(self) -> None:
        if self.percent_off is not None:
            raise InvalidDiscountTerms("An amount discount has no percent.", param="percent_off")
        if not self.amounts_off:
            raise InvalidDiscountTerms(
                "An amount discount needs an amount in at least one currency.", param="amounts_off"
            )
        amounts = {}
        for code, amount in self.amounts_off.items():
            if not isinstance(amount, Money) or not isinstance(amount.amount, Decimal):
                raise InvalidDiscountTerms(f"The {code} amount is not a Money.", param="amounts_off")
            currency = amount.currency.code
            if code != currency:
                raise InvalidDiscountTerms(f"The {code} amount is in {currency}.", param="amounts_off")
            if (
                not amount.amount.is_finite()
                or amount.amount <= 0
                or quantize(amount.amount, currency) != amount.amount
            ):
                raise InvalidDiscountTerms(
                    f"The {currency} amount is positive, with at most {minor_digits(currency)} decimal places.",
                    param="amounts_off",
                )
            amounts[currency] = amount
        # A frozen dataclass, read-only all the way down: the terms of a redeemed coupon never change.
        object.__setattr__(self, "amounts_off", MappingProxyType(amounts))


def discount_for(*, terms: DiscountTerms, subtotal: Money) -> Money:
    """What `terms` take off `subtotal`, in the subtotal's currency: a percent of it rounded half-up
    to the minor unit, or the coupon's amount in that currency; never below zero, never more than
    the subtotal (100% gives exactly the subtotal). An amount coupon without an amount in the
    subtotal's currency raises CurrencyNotSupported."""
    currency = _check_amount(subtotal, "subtotal")
    if terms.type == "percent":
        amount = subtotal.amount
        # Exact product (enough digits for both factors), so the only rounding is the half-up one.
        with localcontext() as context:
            context.prec = len(amount.as_tuple().digits) + len(terms.percent_off.as_tuple().digits) + 3
            exact = amount * terms.percent_off / HUNDRED
        off = quantize(exact, currency)
    else:
        fixed = terms.amounts_off.get(currency)
        if fixed is None:
            raise CurrencyNotSupported(f"This coupon has no amount in {currency}.", param="currency")
        off = fixed.amount
    return money(min(max(off, Decimal(0)), subtotal.amount), currency)


def combine_parts(
    *, subtotal: Money, account: DiscountTerms | None, subscription: DiscountTerms | None
) -> tuple[Money, Money]:
    """The parts (subscription's, account's) of the discount on one invoice that both an
    account-level and a subscription-level discount apply to. The subscription-level discount
    applies first, to the subtotal; the account-level discount then applies to what is left, so
    together they never exceed the subtotal."""
    currency = _check_amount(subtotal, "subtotal")
    first = discount_for(terms=subscription, subtotal=subtotal) if subscription else money(0, currency)
    second = discount_for(terms=account, subtotal=subtotal - first) if account else money(0, currency)
    return money(first.amount, currency), money(second.amount, currency)


def combine(*, subtotal: Money, account: DiscountTerms | None, subscription: DiscountTerms | None) -> Money:
    """The total of `combine_parts`."""
    first, second = combine_parts(subtotal=subtotal, account=account, subscription=subscription)
    return money((first + second).amount, subtotal.currency.code)


def _check_amount(value: Money, name: str) -> str:
    """The currency of a non-negative Money that has no more digits than its currency has."""
    if not isinstance(value, Money) or not isinstance(value.amount, Decimal) or not value.amount.is_finite():
        raise ValueError(f"The {name} is a Money with a Decimal amount.")
    currency = value.currency.code
    if value.amount < 0:
        raise ValueError(f"The {name} is negative.")
    if quantize(value.amount, currency) != value.amount:
        raise ValueError(f"The {name} has more digits than {currency} has.")
    return currency
