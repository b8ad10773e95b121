"""Where in the United States or Canada a customer is, for their tax: the ISO 3166-2 codes a
customer's `subdivision` may hold (the 50 states and the District of Columbia; Canada's 10
provinces and 3 territories), and the one check that reads one."""

from integrations.kernel.errors import InvalidRequest

# Listed, not read from pycountry: its US list also holds the outlying areas (PR, GU, VI, ...),
# which have ISO 3166-1 codes of their own and are a customer's country, not a state.
SUBDIVISIONS = {
    "US": frozenset(
        {"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY"}
        | {"LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC"}
        | {"ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI"}
        | {"WY", "DC"}
    ),
    "CA": frozenset({"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}),
}


def customer_subdivision_read(*, raw: object, country: str) -> str:
    """A customer's subdivision in stored form: "" for none (null or ""), else the code without
    its country ("QC" from "QC", "qc" or "CA-QC"). Only a US or Canadian customer has one, and
    only one of their country's; anything else is a 400 parameter_invalid naming `subdivision`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ""
    if not isinstance(raw, str):
        raise InvalidRequest(
            'A subdivision is an ISO 3166-2 code such as "QC" or "CA-QC".',
            code="parameter_invalid",
            param="subdivision",
        )
    codes = SUBDIVISIONS.get(country)
    if codes is None:
        raise InvalidRequest(
            f"Only customers in the United States or Canada have a subdivision; this one is in {country}.",
            code="parameter_invalid",
            param="subdivision",
        )
    code = raw.strip().upper().removeprefix(f"{country}-")
    if code not in codes:
        example = "NY or US-NY" if country == "US" else "QC or CA-QC"
        raise InvalidRequest(
            f"'{raw.strip()[:16]}' is not a subdivision of {country} (ISO 3166-2, e.g. {example}).",
            code="parameter_invalid",
            param="subdivision",
        )
    return code
