"""The tax routes' bodies and answers (they describe what the representations give)."""

from rest_framework import serializers

from integrations.kernel.representation import Represented
from payments.api.fields import MoneyOutputField
from payments.currency import is_valid_country
from payments.tax.models import TaxRegistration
from payments.tax.report import tax_report_repr
from payments.tax.representations import tax_rate_repr, tax_registration_repr


def _iso_country(value: str) -> str:
    if not is_valid_country(value.upper()):
        raise serializers.ValidationError(f"'{value}' is not an ISO 3166-1 alpha-2 country code.")
    return value.upper()


_SUBDIVISION_HELP = "A US state or Canadian province (ISO 3166-2 without the country: QC, NY); null elsewhere."


class TaxRegistrationSerializer(Represented, serializers.Serializer):
    represent = staticmethod(tax_registration_repr)

    id = serializers.CharField(help_text="`txr_...`")
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2; for eu_oss, the member state it is held in.")
    subdivision = serializers.CharField(allow_null=True, help_text=_SUBDIVISION_HELP)
    scheme = serializers.ChoiceField(choices=TaxRegistration.Scheme.values)
    number = serializers.CharField()
    active_from = serializers.DateField(help_text="The first day tax is collected under it.")
    expires_at = serializers.DateField(allow_null=True, help_text="The first day it no longer applies; null: no end.")
    status = serializers.ChoiceField(choices=TaxRegistration.Status.values, help_text="As of today.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


_NUMBER_MAX = TaxRegistration._meta.get_field("number").max_length


class TaxRegistrationCreateSerializer(serializers.Serializer):
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    subdivision = serializers.CharField(
        max_length=6, required=False, allow_null=True, allow_blank=True, help_text=_SUBDIVISION_HELP
    )
    scheme = serializers.ChoiceField(choices=TaxRegistration.Scheme.values)
    number = serializers.CharField(max_length=_NUMBER_MAX)
    active_from = serializers.DateField()
    expires_at = serializers.DateField(required=False, allow_null=True)


class TaxRegistrationUpdateSerializer(serializers.Serializer):
    """Only the fields sent change. Country, subdivision and scheme never do (400 naming the
    field): a different region is a new registration. active_from changes only before it starts."""

    number = serializers.CharField(max_length=_NUMBER_MAX, required=False)
    active_from = serializers.DateField(required=False)
    expires_at = serializers.DateField(required=False, allow_null=True)

    def validate(self, attrs):
        for name in ("country", "subdivision", "scheme"):
            if name in self.initial_data:
                raise serializers.ValidationError(
                    {name: [f"A registration's {name} cannot change: expire it and create a new one."]}
                )
        return attrs


class TaxRateSerializer(Represented, serializers.Serializer):
    represent = staticmethod(tax_rate_repr)

    country = serializers.CharField()
    subdivision = serializers.CharField(allow_null=True, help_text=_SUBDIVISION_HELP)
    category = serializers.CharField(help_text="digital_services (the standard rate), or a category taxed lower.")
    name = serializers.CharField(help_text="The tax's name: VAT, GST, HST, QST, PST, RST.")
    rate = serializers.CharField(help_text='A decimal fraction: "0.19" is 19%.')
    adds_to_country = serializers.BooleanField(
        help_text="A subdivision's own tax added to the country-wide rate (QST, PST); false: in its place (HST)."
    )
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True, help_text="The first day it no longer applies; null: in force.")
    source = serializers.CharField(help_text="Where the figure comes from.")
    source_date = serializers.DateField()


class TaxRegistrationFilters(serializers.Serializer):
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, help_text="ISO 3166-1 alpha-2.")
    scheme = serializers.ChoiceField(choices=TaxRegistration.Scheme.values, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=TaxRegistration.Status.values, required=False, allow_blank=True)

    def validate_country(self, value):
        return _iso_country(value)


class TaxRateFilters(serializers.Serializer):
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, help_text="ISO 3166-1 alpha-2.")
    subdivision = serializers.RegexField(
        r"^[A-Za-z0-9]{1,3}$", required=False, help_text="With country: that subdivision's rates too (QC, NY)."
    )
    category = serializers.RegexField(
        r"^[a-z][a-z0-9_]{0,39}$", required=False, help_text="One category (digital_services, broadcasting, ...)."
    )
    at = serializers.DateField(required=False, help_text="The rates in force on that day (default: today).")

    def validate_country(self, value):
        return _iso_country(value)

    def validate(self, attrs):
        if "subdivision" in attrs and "country" not in attrs:
            raise serializers.ValidationError({"subdivision": ["A subdivision needs its country."]})
        return attrs


class TaxReportRowSerializer(serializers.Serializer):
    country = serializers.CharField(help_text="Where the sales were taxed (place of supply), ISO 3166-1 alpha-2.")
    subdivision = serializers.CharField(allow_null=True, help_text=_SUBDIVISION_HELP)
    rate = serializers.CharField(help_text='The lines\' rate, a decimal fraction: "0.19" is 19%.')
    currency = serializers.CharField(help_text="ISO 4217: one row per currency, never converted.")
    reverse_charge = serializers.BooleanField(
        help_text="Sales to businesses that account for the tax (none collected)."
    )
    taxable = MoneyOutputField(help_text="The net (after discounts, without tax) of the invoices paid in the period.")
    tax = MoneyOutputField(help_text="Their tax.")
    credited_taxable = MoneyOutputField(help_text="The net of the credit notes issued in the period (positive).")
    credited_tax = MoneyOutputField(help_text="Their tax (positive).")
    net_taxable = MoneyOutputField(help_text="taxable - credited_taxable.")
    net_tax = MoneyOutputField(help_text="tax - credited_tax: what the return declares.")


class TaxReportSerializer(Represented, serializers.Serializer):
    represent = staticmethod(tax_report_repr)

    def get_fields(self):  # `from` is a Python keyword: declared here, not as a class attribute
        return {
            "from": serializers.DateField(help_text="The first day (UTC) of the period."),
            "to": serializers.DateField(help_text="The last day (UTC), included."),
            "rows": TaxReportRowSerializer(
                many=True, help_text="Per country, subdivision, rate, currency and reverse charge, sorted so."
            ),
        }
