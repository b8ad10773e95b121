"""The connector kinds that are implemented (a Connector row of another kind cannot be enabled)."""

from integrations.connectors.base import ConnectorKind
from integrations.connectors.hubspot import HubSpotHandler
from integrations.connectors.mailchimp import MailchimpHandler
from integrations.connectors.mailchimp import settings_check as mailchimp_settings_check
from integrations.connectors.xero import DEFAULT_BASE_URL as XERO_BASE_URL
from integrations.connectors.xero import DEFAULT_TOKEN_URL as XERO_TOKEN_URL
from integrations.connectors.xero import XeroHandler
from integrations.connectors.xero import settings_check as xero_settings_check
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
    "mailchimp": ConnectorKind(
        kind="mailchimp",
        label="Mailchimp (marketing)",
        credential_names=("api_key",),
        default_settings={"base_url": "", "list_id": "", "status_if_new": "transactional"},
        open=MailchimpHandler,
        setting_fields={
            "list_id": "Mailchimp: the audience's id (Audience > Settings > Audience name and defaults); required to enable.",
            "status_if_new": "Mailchimp: the status of a new member, transactional (default: no marketing consent) or subscribed.",
        },
        check_settings=mailchimp_settings_check,
    ),
    "xero": ConnectorKind(
        kind="xero",
        label="Xero (accounting)",
        credential_names=("client_id", "client_secret", "refresh_token"),
        default_settings={"base_url": XERO_BASE_URL, "token_url": XERO_TOKEN_URL},
        open=XeroHandler,
        # The tenant and the mapping are set on the Xero mapping screen (integrations/connectors/admin.py).
        check_settings=xero_settings_check,
    ),
}
