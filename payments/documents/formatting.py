"""Numbers, money, rates and dates as a document in a given language shows them (CLDR data via
babel): amounts always with exactly their currency's minor-unit digits (payments.currency), the
ISO code beside them, so JPY 1,500 and KWD 1.250 read as what they are in every language."""

import re
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import parse_pattern

from integrations.kernel.errors import InvalidRequest
from payments.currency import minor_digits, quantize

# The languages whose words the documents are written in (payments/locale/<language>/); any other
# preferred locale gets English words and English numbers, so a document never mixes two languages.
DOCUMENT_LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
NBSP = "\u00a0"


def locale_tag_read(*, raw: object, param: str = "preferred_locale") -> str:
    """A customer's preferred locale from input: a BCP 47 tag CLDR knows ("de", "de-AT", "pt_BR"),
    answered in canonical form ("de-AT"); None or "" is none. Anything else is a 400."""
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or not _TAG.match(raw.strip().replace("_", "-")):
        raise InvalidRequest(
            'A locale is a BCP 47 language tag such as "de" or "de-AT".', code="parameter_invalid", param=param
        )
    tag = raw.strip().replace("_", "-")
    try:
        locale = Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        raise InvalidRequest(f"'{tag}' is not a locale we know.", code="parameter_invalid", param=param) from None
    return str(locale).replace("_", "-")


@cache
def document_locale(tag: str) -> tuple[str, Locale]:
    """(the language of the words, the locale of numbers and dates) for a customer's preferred
    locale: "de-AT" -> ("de", de_AT); "fr" or "" -> ("en", en)."""
    try:
        locale = Locale.parse(tag.replace("-", "_")) if tag else None
    except (ValueError, UnknownLocaleError):
        locale = None
    if locale is None or locale.language not in DOCUMENT_LANGUAGES:
        return DEFAULT_LANGUAGE, Locale.parse(DEFAULT_LANGUAGE)
    return locale.language, locale


def amount_text(amount: Decimal | str, currency: str, locale: Locale) -> str:
    """The number alone: "1,234.50" (en), "1.234,50" (de), "1,500" JPY, "1.250" KWD (en)."""
    digits = minor_digits(currency)
    pattern = parse_pattern(locale.decimal_formats[None].pattern)
    pattern.frac_prec = (digits, digits)
    return pattern.apply(quantize(Decimal(amount), currency), locale)


def money_text(amount: Decimal | str, currency: str, locale: Locale) -> str:
    """The amount with its ISO code where the locale puts the currency: "EUR 9.99" (en), "9,99 EUR" (de)."""
    number = amount_text(amount, currency, locale)
    symbol_first = locale.currency_formats["standard"].pattern.split(";")[0].lstrip().startswith("¤")
    return f"{currency}{NBSP}{number}" if symbol_first else f"{number}{NBSP}{currency}"


def rate_text(rate: Decimal | str, locale: Locale) -> str:
    """A tax rate as a percentage, as precise as it is: "19%", "7.7%" (en), "19 %" (de)."""
    pattern = parse_pattern(locale.percent_formats[None].pattern)
    pattern.frac_prec = (0, 4)
    return pattern.apply(Decimal(rate), locale)


def date_text(value: date | datetime | str, locale: Locale) -> str:
    """A calendar date in the locale's long form (UTC days): "January 31, 2027", "31. Januar 2027"."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="long", locale=locale)


def country_text(code: str, locale: Locale) -> str:
    """A country's name in the locale's language ("Germany", "Deutschland"), or its code if CLDR has none."""
    return locale.territories.get(code, code) if code else ""
