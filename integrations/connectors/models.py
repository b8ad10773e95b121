"""Connectors' own tables besides Connector and ConnectorRecord (integrations/models.py re-exports
them): the OAuth2 tokens a connector rotates by itself (Xero)."""

from django.db import models

from integrations.kernel.encryption import EncryptedJSONField


class ConnectorToken(models.Model):
    """The tokens a connector was handed by its vendor's token endpoint (access token, its expiry,
    the rotated refresh token), written by a second database connection that commits at once, so
    they outlive the runner's transaction when the event being handled fails.

    `connector_id` is a plain column, not a foreign key: the runner holds the connector's row FOR
    UPDATE, and a foreign key check from the second connection would wait on that lock for ever."""

    connector_id = models.CharField(max_length=30, unique=True)
    tokens = EncryptedJSONField(default=dict)
    updated_at = models.DateTimeField()

    def __str__(self):
        return f"tokens of {self.connector_id}"
