"""What a connector kind is: the vendor errors the runner understands, and the interface a kind's
handler implements (one event in, zero or more vendor calls out)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Protocol

from django.utils import timezone

from integrations.models import Connector, Event


class VendorError(Exception):
    """The vendor refused or could not be reached: the runner stops, records `message` (which
    never holds a credential) and retries the same event later."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class VendorUnauthorized(VendorError):
    """401: the token is invalid, revoked or expired."""


class VendorRateLimited(VendorError):
    """429: `retry_after` seconds to wait, when the vendor said."""

    def __init__(self, message: str, *, retry_after: float | None):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header: delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def rate_limited(vendor: str, response, where: str) -> VendorRateLimited:
    """The vendor's "slow down" answer (429, or whatever status it uses) with its Retry-After."""
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    waited = f", retry after {retry_after:g}s" if retry_after is not None else ""
    return VendorRateLimited(
        f"{vendor} rate limit ({response.status_code}) on {where}{waited}", retry_after=retry_after
    )


class Handler(Protocol):
    def handle(self, event: Event) -> None:
        """Map one event to the vendor's calls; raise VendorError to stop and retry it later."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class ConnectorKind:
    kind: str
    label: str
    credential_names: tuple[str, ...]  # write-only in the admin
    default_settings: dict
    open: "type[Handler] | None" = None  # called with the connector: a handler for one run
    # The kind's own settings besides base_url (name -> help text), edited in the admin.
    setting_fields: dict[str, str] = field(default_factory=dict)
    # check_settings(settings, enabled=...) when they are saved, and before the connector is enabled
    # (enabled=True, as while it is): raises InvalidRequest naming the setting.
    check_settings: Callable[..., None] | None = None

    def handler(self, connector: Connector) -> Handler:
        assert self.open is not None
        return self.open(connector)
