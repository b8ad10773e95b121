"""System checks of the tax settings: `manage.py check` (and every start) names a bad value."""

from django.conf import settings
from django.core import checks

from payments.currency import is_valid_country


def check_tax_seller_country(app_configs=None, **kwargs):
    country = settings.TAX_SELLER_COUNTRY
    if country and not is_valid_country(country):
        return [
            checks.Error(
                f"TAX_SELLER_COUNTRY={country!r} is not an ISO 3166-1 alpha-2 country code (e.g. DE).",
                id="payments.E101",
            )
        ]
    return []
