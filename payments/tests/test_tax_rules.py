"""Where a sale is taxed and at what (payments/tax/rules.py): the evidence of the customer's
country, and the decision from the registrations and the shipped rates."""

import datetime as dt
from decimal import Decimal

import pytest

from integrations.kernel.errors import InvalidRequest
from payments.tax.rules import RateFact, tax_decide, tax_evidence_evaluate
from payments.tests.tax_helpers import percent, table

DAY = dt.date(2026, 6, 1)
D = Decimal


# --- Evidence -----------------------------------------------------------------------------------


def test_evidence_is_conclusive_when_the_card_agrees_with_the_billing_country():
    evidence = tax_evidence_evaluate(billing_country="DE", card_country="DE", ip_country="FR")

    assert evidence.country == "DE"
    assert evidence.conclusive is True
    assert evidence.pieces == {"billing_country": "DE", "card_country": "DE", "ip_country": "FR"}


def test_evidence_is_conclusive_when_the_ip_agrees_with_the_billing_country():
    assert tax_evidence_evaluate(billing_country="FR", card_country="US", ip_country="FR").conclusive is True


def test_evidence_that_conflicts_is_inconclusive_and_the_billing_country_still_decides():
    evidence = tax_evidence_evaluate(billing_country="DE", card_country="FR", ip_country="FR")

    assert evidence.country == "DE"
    assert evidence.conclusive is False  # two pieces agree, but against the country taxed


def test_the_billing_country_alone_is_inconclusive():
    evidence = tax_evidence_evaluate(billing_country="DE", card_country=None, ip_country=None)

    assert (evidence.country, evidence.conclusive) == ("DE", False)


def test_evidence_is_read_in_any_case_and_garbage_evidence_is_left_out():
    evidence = tax_evidence_evaluate(billing_country=" de ", card_country="de", ip_country="ZZ")

    assert evidence.pieces == {"billing_country": "DE", "card_country": "DE", "ip_country": None}
    assert evidence.conclusive is True


def test_a_billing_country_that_is_no_country_is_refused():
    with pytest.raises(InvalidRequest) as refused:
        tax_evidence_evaluate(billing_country="XX", card_country="DE", ip_country="DE")

    assert (refused.value.code, refused.value.param) == ("parameter_invalid", "billing_country")


# --- Registrations: the switch --------------------------------------------------------------------


def test_nothing_is_collected_where_no_registration_is_active():
    decision = tax_decide(at=DAY, customer_country="DE", table=table())

    assert (decision.collecting, decision.rate, decision.reason) == (False, 0, "not_registered")
    assert decision.registration_id is None


def test_a_registration_before_it_starts_or_after_it_expires_collects_nothing():
    registered = table(("DE", "", "domestic", dt.date(2026, 7, 1), dt.date(2026, 12, 1)))

    assert tax_decide(at=dt.date(2026, 6, 30), customer_country="DE", table=registered).collecting is False
    assert tax_decide(at=dt.date(2026, 7, 1), customer_country="DE", table=registered).collecting is True
    assert tax_decide(at=dt.date(2026, 11, 30), customer_country="DE", table=registered).collecting is True
    assert tax_decide(at=dt.date(2026, 12, 1), customer_country="DE", table=registered).collecting is False


def test_a_domestic_registration_covers_its_country_only():
    registered = table(("DE", "", "domestic"))

    german = tax_decide(at=DAY, customer_country="DE", table=registered)
    french = tax_decide(at=DAY, customer_country="FR", table=registered)

    assert (german.collecting, german.rate, german.registration_id) == (True, percent("19"), "txr_1")
    assert (french.collecting, french.reason) == (False, "not_registered")


def test_an_eu_oss_registration_taxes_consumers_in_every_member_state_at_their_own_rate():
    registered = table(("DE", "", "eu_oss"))

    for country, rate in [("FR", "20"), ("DE", "19"), ("HU", "27"), ("FI", "25.5"), ("LU", "17"), ("RO", "21")]:
        decision = tax_decide(at=DAY, customer_country=country, table=registered)
        assert (decision.collecting, decision.rate, decision.country) == (True, percent(rate), country), country
        assert decision.registration_id == "txr_1"


def test_an_eu_oss_registration_covers_no_country_outside_the_eu():
    registered = table(("DE", "", "eu_oss"))

    for country in ("GB", "NO", "CH", "US"):
        assert tax_decide(at=DAY, customer_country=country, table=registered).collecting is False, country


def test_a_registration_in_the_customers_country_is_named_before_the_oss():
    registered = table(("DE", "", "eu_oss"), ("FR", "", "domestic"))

    assert tax_decide(at=DAY, customer_country="FR", table=registered).registration_id == "txr_2"


def test_uk_norway_switzerland_australia_and_new_zealand_each_need_their_own_registration():
    registered = table(
        ("GB", "", "uk"), ("NO", "", "other"), ("CH", "", "other"), ("AU", "", "other"), ("NZ", "", "other")
    )

    expected = {"GB": "20", "NO": "25", "CH": "8.1", "AU": "10", "NZ": "15"}

    for country, rate in expected.items():
        assert tax_decide(at=DAY, customer_country=country, table=registered).rate == percent(rate), country


# --- Rates over time --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "before", "after", "change"),
    [
        ("FI", "24", "25.5", dt.date(2024, 9, 1)),
        ("EE", "20", "22", dt.date(2024, 1, 1)),
        ("EE", "22", "24", dt.date(2025, 7, 1)),
        ("SK", "20", "23", dt.date(2025, 1, 1)),
        ("RO", "19", "21", dt.date(2025, 8, 1)),
        ("LU", "16", "17", dt.date(2024, 1, 1)),
        ("CH", "7.7", "8.1", dt.date(2024, 1, 1)),
    ],
)
def test_a_rate_change_between_two_dates_picks_the_right_row(country, before, after, change):
    registered = table((country, "", "other" if country == "CH" else "domestic"))

    on_the_eve = tax_decide(at=change - dt.timedelta(days=1), customer_country=country, table=registered)
    on_the_day = tax_decide(at=change, customer_country=country, table=registered)

    assert (on_the_eve.rate, on_the_day.rate) == (percent(before), percent(after))


def test_a_moment_is_taxed_on_its_day_in_utc():
    registered = table(("FI", "", "domestic"))
    # 31 August 23:30 in Brazil (UTC-3) is already 1 September in UTC: the new rate.
    late_evening = dt.datetime(2024, 8, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3)))

    assert tax_decide(at=late_evening, customer_country="FI", table=registered).rate == percent("25.5")


def test_a_registration_with_no_rate_in_force_collects_nothing_and_says_why():
    rates = (RateFact("DE", "", "digital_services", "VAT", D("0.19"), False, dt.date(2020, 1, 1), dt.date(2021, 1, 1)),)
    registered = table(("DE", "", "domestic"), rates=rates)

    decision = tax_decide(at=DAY, customer_country="DE", table=registered)

    assert (decision.collecting, decision.reason, decision.registration_id) == (False, "no_rate", "txr_1")


def test_a_category_a_country_taxes_lower_has_its_rate_and_elsewhere_the_standard_one():
    registered = table(("DE", "", "eu_oss"))

    austria = tax_decide(at=DAY, customer_country="AT", category="broadcasting", table=registered)
    germany = tax_decide(at=DAY, customer_country="DE", category="broadcasting", table=registered)
    streaming = tax_decide(at=DAY, customer_country="AT", table=registered)

    assert (austria.rate, germany.rate, streaming.rate) == (percent("10"), percent("19"), percent("20"))


def test_a_customer_country_that_is_no_country_is_refused():
    with pytest.raises(InvalidRequest) as refused:
        tax_decide(at=DAY, customer_country="Germany", table=table())

    assert refused.value.param == "customer_country"


# --- Business customers: the reverse charge ---------------------------------------------------------


def test_a_verified_vat_id_of_another_member_state_is_reverse_charged():
    registered = table(("DE", "", "domestic"), ("DE", "", "eu_oss"), seller="DE")

    decision = tax_decide(
        at=DAY, customer_country="FR", tax_id_status="verified", tax_id_country="FR", table=registered
    )

    assert decision.reverse_charge is True
    assert (decision.rate, decision.collecting, decision.reason) == (0, False, "reverse_charge")
    assert decision.registration_id == "txr_1"  # the seller's own registration, whose VAT id the invoice shows


@pytest.mark.parametrize("status", ["unverified", "invalid", None])
def test_an_unverified_or_invalid_vat_id_is_taxed_as_a_consumer(status):
    registered = table(("DE", "", "eu_oss"), seller="DE")

    decision = tax_decide(at=DAY, customer_country="FR", tax_id_status=status, tax_id_country="FR", table=registered)

    assert (decision.reverse_charge, decision.collecting, decision.rate) == (False, True, percent("20"))


def test_a_verified_vat_id_of_the_sellers_own_member_state_pays_the_domestic_rate():
    registered = table(("DE", "", "domestic"), seller="DE")

    decision = tax_decide(
        at=DAY, customer_country="DE", tax_id_status="verified", tax_id_country="DE", table=registered
    )

    assert (decision.reverse_charge, decision.rate) == (False, percent("19"))


def test_greek_vat_ids_say_el_and_are_of_a_member_state():
    registered = table(("DE", "", "eu_oss"), seller="DE")

    decision = tax_decide(
        at=DAY, customer_country="GR", tax_id_status="verified", tax_id_country="EL", table=registered
    )

    assert decision.reverse_charge is True


def test_no_reverse_charge_while_the_seller_collects_no_eu_vat():
    registered = table(("GB", "", "uk"), seller="DE")

    decision = tax_decide(
        at=DAY, customer_country="FR", tax_id_status="verified", tax_id_country="FR", table=registered
    )

    assert (decision.reverse_charge, decision.collecting, decision.reason) == (False, False, "not_registered")


def test_a_seller_outside_the_eu_reverse_charges_eu_businesses_under_its_oss():
    registered = table(("IE", "", "eu_oss"), seller="US")

    business = tax_decide(
        at=DAY, customer_country="FR", tax_id_status="verified", tax_id_country="FR", table=registered
    )
    consumer = tax_decide(at=DAY, customer_country="FR", table=registered)

    assert business.reverse_charge is True
    assert (consumer.collecting, consumer.rate) == (True, percent("20"))


def test_a_verified_id_outside_the_eu_changes_nothing():
    registered = table(("GB", "", "uk"), seller="DE")

    decision = tax_decide(
        at=DAY, customer_country="GB", tax_id_status="verified", tax_id_country="GB", table=registered
    )

    assert (decision.reverse_charge, decision.rate) == (False, percent("20"))


# --- Canada: federal and provincial ---------------------------------------------------------------


def _components(decision) -> list[tuple[str, Decimal]]:
    return [(component.name, component.rate) for component in decision.components]


def test_canadas_gst_registration_collects_hst_in_the_harmonized_provinces_in_place_of_gst():
    registered = table(("CA", "", "domestic"))

    ontario = tax_decide(at=DAY, customer_country="CA", customer_subdivision="ON", table=registered)
    new_brunswick = tax_decide(at=DAY, customer_country="CA", customer_subdivision="CA-nb", table=registered)

    assert (ontario.rate, ontario.subdivision, _components(ontario)) == (percent("13"), "ON", [("HST", percent("13"))])
    assert new_brunswick.rate == percent("15")


def test_nova_scotias_hst_went_from_15_to_14_percent_on_1_april_2025():
    registered = table(("CA", "", "domestic"))

    def rate(day):
        return tax_decide(at=day, customer_country="CA", customer_subdivision="NS", table=registered).rate

    assert (rate(dt.date(2025, 3, 31)), rate(dt.date(2025, 4, 1))) == (percent("15"), percent("14"))


def test_quebec_adds_qst_to_gst_only_under_a_quebec_registration():
    federal_only = table(("CA", "", "domestic"))
    both = table(("CA", "", "domestic"), ("CA", "QC", "domestic"))

    without = tax_decide(at=DAY, customer_country="CA", customer_subdivision="QC", table=federal_only)
    with_qst = tax_decide(at=DAY, customer_country="CA", customer_subdivision="QC", table=both)

    assert _components(without) == [("GST", percent("5"))]
    assert with_qst.rate == D("0.14975")  # 5% + 9.975%, computed once on the net
    assert _components(with_qst) == [("GST", percent("5")), ("QST", D("0.09975"))]
    assert [c.registration_id for c in with_qst.components] == ["txr_1", "txr_2"]


@pytest.mark.parametrize(("province", "pst"), [("BC", "7"), ("MB", "7"), ("SK", "6")])
def test_the_pst_provinces_add_their_tax_under_their_own_registration(province, pst):
    registered = table(("CA", "", "domestic"), ("CA", province, "domestic"))

    decision = tax_decide(at=DAY, customer_country="CA", customer_subdivision=province, table=registered)

    assert decision.rate == percent("5") + percent(pst)


def test_a_province_without_its_own_tax_pays_gst_and_a_pst_registration_alone_collects_only_the_pst():
    assert tax_decide(
        at=DAY, customer_country="CA", customer_subdivision="AB", table=table(("CA", "", "domestic"))
    ).rate == percent("5")
    provincial = tax_decide(
        at=DAY, customer_country="CA", customer_subdivision="BC", table=table(("CA", "BC", "domestic"))
    )
    assert _components(provincial) == [("PST", percent("7"))]


def test_a_subdivision_outside_the_us_and_canada_changes_nothing():
    registered = table(("DE", "", "domestic"))

    decision = tax_decide(at=DAY, customer_country="DE", customer_subdivision="BY", table=registered)

    assert (decision.rate, decision.subdivision) == (percent("19"), None)
