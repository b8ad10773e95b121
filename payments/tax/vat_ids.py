"""Business tax ids (VAT numbers and their equivalents): format and checksum, offline, with
python-stdnum; the normal form we store (compact, upper case, the country's prefix first) and the
country the id belongs to. Knows no customer: it reads strings and answers `TaxId` or refuses.

Accepted: the EU-27's VAT numbers (stdnum.eu.vat; Greece's prefix is EL, GR is read as EL) and
Northern Ireland's XI, the UK's GB VAT numbers (stdnum.gb.vat), Switzerland's UID (stdnum.ch.uid,
the MWST/TVA/IVA/TPV suffix optional), Norway's MVA number (stdnum.no.mva), Australia's ABN
(stdnum.au.abn), New Zealand's IRD/GST number (stdnum.nz.ird) and Canada's business number, alone
or with its program account (stdnum.ca.bn: 123456789 or 123456789RT0001)."""

import re
from dataclasses import dataclass
from importlib import import_module

from stdnum.exceptions import ValidationError as StdnumError

EU_PREFIXES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "EL",
        "ES",
        "FI",
        "FR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "XI",
    ]
)
# The prefix's country in ISO 3166-1 where they differ (Greece's VAT prefix; Northern Ireland is the UK).
_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}
_COUNTRY_PREFIX = {"GR": "EL"}  # a bare number of a Greek customer gets EL
# Outside the EU: the stdnum module that checks the national part, after the two-letter prefix.
_NATIONAL = {
    "GB": "stdnum.gb.vat",
    "CH": "stdnum.ch.uid",
    "NO": "stdnum.no.mva",
    "AU": "stdnum.au.abn",
    "NZ": "stdnum.nz.ird",
    "CA": "stdnum.ca.bn",
}
PREFIXES = EU_PREFIXES | frozenset(_NATIONAL) | frozenset({"GR"})
MAX_LENGTH = 20  # the longest normal form is Canada's BN15 with its prefix (CA123456789RT0001)
_SEPARATORS = re.compile(r"[\s.\-/,:]+")
_SWISS_SUFFIX = re.compile(r"(MWST|TVA|IVA|TPV)$")
_ACCEPTED = "accepted: EU VAT numbers (EL for Greece, XI for Northern Ireland), GB, CH, NO, AU, NZ and CA"


class TaxIdInvalid(ValueError):
    """The id fails its country's format or checksum, or its country is not one we read."""


@dataclass(frozen=True)
class TaxId:
    number: str  # the normal form: "FR40303265045", "EL094259216", "CHE116281710", "NO974760673MVA"
    country: str  # ISO 3166-1 alpha-2 of the id's prefix: GR for EL, GB for XI

    @property
    def prefix(self) -> str:
        return self.number[:2]

    @property
    def vies_checkable(self) -> bool:
        """Whether VIES (the EU's register) answers for it: the EU's and Northern Ireland's."""
        return self.prefix in EU_PREFIXES

    @property
    def national_number(self) -> str:
        """The number without its prefix, as VIES asks for it."""
        return self.number[2:]


def tax_id_parse(raw: object, *, default_country: str = "") -> TaxId:
    """The normal form of `raw` and its country, or TaxIdInvalid. A number without a country prefix
    is read as one of `default_country` (the customer's billing country), where we read that country."""
    if not isinstance(raw, str):
        raise TaxIdInvalid("The tax id must be a string.")
    text = _SEPARATORS.sub("", raw).upper()
    if not text or len(text) > 40 or not text.isalnum() or not text.isascii():
        raise TaxIdInvalid("The tax id is not in a format we know.")
    if text[:2] in PREFIXES:
        prefix, national = text[:2], text[2:]
    elif default_country.upper() in PREFIXES:
        prefix, national = default_country.upper(), text
    elif text[:2].isalpha():
        raise TaxIdInvalid(f"Tax ids of {text[:2]} are not read here; {_ACCEPTED}.")
    else:
        raise TaxIdInvalid(f"The tax id must start with its country code; {_ACCEPTED}.")
    prefix = _COUNTRY_PREFIX.get(prefix, prefix)
    try:
        number = _checked(prefix, national)
    except StdnumError:
        raise TaxIdInvalid(f"This is not a valid {prefix} tax id (format or check digits).") from None
    if len(number) > MAX_LENGTH:
        raise TaxIdInvalid("The tax id is too long.")
    return TaxId(number=number, country=_PREFIX_COUNTRY.get(prefix, prefix))


def _checked(prefix: str, national: str) -> str:
    if prefix in EU_PREFIXES:
        from stdnum.eu import vat

        return vat.validate(prefix + national)  # validate() answers the compact form, prefix kept
    if prefix == "CH":
        national = _SWISS_SUFFIX.sub("", national)
        if not national.startswith("E"):
            national = "E" + national  # CHE-123.456.789: the E belongs to the UID
        return import_module(_NATIONAL[prefix]).validate("CH" + national)
    if prefix == "NO" and national.isdigit():
        national += "MVA"  # the VAT register's number is the organisation number followed by MVA
    return prefix + import_module(_NATIONAL[prefix]).validate(national)
