"""The connector kinds that are implemented (a Connector row of another kind cannot be enabled)."""

from integrations.connectors.base import ConnectorKind
from integrations.connectors.hubspot import HubSpotHandler
from integrations.connectors.xero import DEFAULT_BASE_URL as XERO_BASE_URL
from integrations.connectors.xero import DEFAULT_TOKEN_URL as XERO_TOKEN_URL
from integrations.connectors.xero import XeroHandler

KINDS: dict[str, ConnectorKind] = {
    "hubspot": ConnectorKind(
        kind="hubspot",
        label="HubSpot (CRM)",
        credential_names=("access_token",),
        default_settings={"base_url": "https://api.hubapi.com"},
        open=HubSpotHandler,
    ),
    "xero": ConnectorKind(
        kind="xero",
        label="Xero (accounting)",
        credential_names=("client_id", "client_secret", "refresh_token"),
        default_settings={"base_url": XERO_BASE_URL, "token_url": XERO_TOKEN_URL},
        open=XeroHandler,
    ),
}
