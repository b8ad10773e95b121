"""payments.tax.vat_ids: which tax ids are read, their normal form and their country."""

import pytest

from payments.tax.vat_ids import TaxIdInvalid, tax_id_parse


@pytest.mark.parametrize(
    ("raw", "number", "country"),
    [
        ("FR40303265045", "FR40303265045", "FR"),
        ("DE136695976", "DE136695976", "DE"),
        ("IT00743110157", "IT00743110157", "IT"),
        ("NL004495445B01", "NL004495445B01", "NL"),
        ("BE0403170701", "BE0403170701", "BE"),
        ("ESA28015865", "ESA28015865", "ES"),
        ("ATU13585627", "ATU13585627", "AT"),
        ("EL094259216", "EL094259216", "GR"),
        ("XI980780684", "XI980780684", "GB"),
        ("GB980780684", "GB980780684", "GB"),
        ("CHE116281710", "CHE116281710", "CH"),
        ("NO974760673MVA", "NO974760673MVA", "NO"),
        ("AU51824753556", "AU51824753556", "AU"),
        ("NZ49091850", "NZ49091850", "NZ"),
        ("CA123456782RT0001", "CA123456782RT0001", "CA"),
        ("CA123456782", "CA123456782", "CA"),
    ],
)
def test_a_valid_id_is_read_with_its_country(raw, number, country):
    tax_id = tax_id_parse(raw)

    assert (tax_id.number, tax_id.country) == (number, country)


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        (" fr 403 032 650 45 ", "FR40303265045"),
        ("FR-40.303.265.045", "FR40303265045"),
        ("be 0403.170.701", "BE0403170701"),
        ("nl004495445b01", "NL004495445B01"),
        ("GR094259216", "EL094259216"),  # Greece's VAT prefix is EL, whatever the ISO code
        ("GB 980 7806 84", "GB980780684"),
        ("CHE-116.281.710 MWST", "CHE116281710"),
        ("CHE-116.281.710 TVA", "CHE116281710"),  # the suffix's language does not make another number
        ("NO 974 760 673 MVA", "NO974760673MVA"),
        ("AU 51 824 753 556", "AU51824753556"),
    ],
)
def test_ids_are_normalised_compact_upper_case_with_their_prefix(raw, number):
    assert tax_id_parse(raw).number == number


@pytest.mark.parametrize(
    ("raw", "country", "number"),
    [
        ("40303265045", "FR", "FR40303265045"),
        ("A28015865", "ES", "ESA28015865"),
        ("094259216", "GR", "EL094259216"),
        ("980780684", "GB", "GB980780684"),
        ("974760673", "NO", "NO974760673MVA"),
        ("51 824 753 556", "AU", "AU51824753556"),
    ],
)
def test_a_number_without_its_prefix_is_read_in_the_billing_country(raw, country, number):
    assert tax_id_parse(raw, default_country=country).number == number


@pytest.mark.parametrize(
    "raw",
    [
        "FR40303265046",  # check digits
        "DE136695977",
        "IT00743110158",
        "NL004495446B01",
        "BE0403170702",
        "ESA28015866",
        "GB980780685",
        "CHE116281711",
        "NO974760674MVA",
        "AU51824753557",
        "CA123456783",
        "DE12345",  # too short
        "FR",
        "",
        "   ",
        "US123456789",  # a country whose ids are not read here
        "123456789",  # no prefix and no billing country to read it in
        "FR4030326504<script>",
        "ÉS12345678",
        "FR" + "4" * 60,
    ],
)
def test_an_id_failing_its_format_or_checksum_is_refused(raw):
    with pytest.raises(TaxIdInvalid):
        tax_id_parse(raw)


def test_a_non_string_is_refused():
    with pytest.raises(TaxIdInvalid):
        tax_id_parse(40303265045)


def test_only_eu_and_northern_irish_ids_are_vies_checkable():
    assert tax_id_parse("FR40303265045").vies_checkable
    assert tax_id_parse("XI980780684").vies_checkable
    assert not tax_id_parse("GB980780684").vies_checkable
    assert not tax_id_parse("CHE116281710").vies_checkable
    assert tax_id_parse("EL094259216").national_number == "094259216"
