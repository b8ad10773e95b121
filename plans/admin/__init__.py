"""The Django admin's catalogue, subscription and customer screens."""

from plans.admin import catalogue, customers, emails, subscriptions  # noqa: F401  (registers the screens)
