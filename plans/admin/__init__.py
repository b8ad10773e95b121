"""The Django admin's catalogue and subscription screens."""

from plans.admin import catalogue, subscriptions  # noqa: F401  (registers the screens)
