"""The connector kinds that are implemented (a Connector row of another kind cannot be enabled)."""

from integrations.connectors.base import ConnectorKind
from integrations.connectors.hubspot import HubSpotHandler

KINDS: dict[str, ConnectorKind] = {
    "hubspot": ConnectorKind(
        kind="hubspot",
        label="HubSpot (CRM)",
        credential_names=("access_token",),
        default_settings={"base_url": "https://api.hubapi.com"},
        open=HubSpotHandler,
    ),
}
