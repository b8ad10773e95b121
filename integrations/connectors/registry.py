"""The connector kinds that are implemented (a Connector row of another kind cannot be enabled)."""

from integrations.connectors.base import ConnectorKind
from integrations.connectors.hubspot import HubSpotHandler
from integrations.connectors.zendesk import ZendeskHandler

KINDS: dict[str, ConnectorKind] = {
    "hubspot": ConnectorKind(
        kind="hubspot",
        label="HubSpot (CRM)",
        credential_names=("access_token",),
        default_settings={"base_url": "https://api.hubapi.com"},
        open=HubSpotHandler,
    ),
    "zendesk": ConnectorKind(
        kind="zendesk",
        label="Zendesk (support)",
        credential_names=("email", "api_token", "access_token"),  # an API token, or an OAuth token
        default_settings={"base_url": ""},  # https://{subdomain}.zendesk.com: the operator's account
        open=ZendeskHandler,
    ),
}
