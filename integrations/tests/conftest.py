"""Fixtures of the integrations app's tests."""

from integrations.tests.webhook_helpers import resolver  # noqa: F401  (the fake DNS of the webhook tests)
