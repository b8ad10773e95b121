"""The tokens a Xero connector is handed by the token endpoint, kept where a rollback cannot reach."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from integrations.connectors.models import ConnectorToken
from integrations.models import Connector


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_at: datetime | None
    refresh_token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


class XeroTokenStore:
    """The connector's current tokens. The operator enters a refresh token in the credentials; every
    refresh rotates it (the old one stops working at once), so the new tokens are written at once by
    a second database connection that commits on its own: a failing event (its savepoint rolled
    back) or a crash of the runner right after the refresh cannot lose them. The stored tokens carry
    a digest of the refresh token the operator entered: entering a new one starts from it again."""

    def __init__(self, connector: Connector):
        self.connector_id = connector.pk
        self.entered = (connector.credentials or {}).get("refresh_token", "")
        self._pending: dict | None = None

    def load(self) -> Tokens:
        row = ConnectorToken.objects.filter(connector_id=self.connector_id).first()
        stored = row.tokens if row is not None else {}
        if stored.get("seed") == _digest(self.entered) and stored.get("refresh_token"):
            expires = stored.get("expires_at")
            return Tokens(
                access_token=stored.get("access_token", ""),
                expires_at=datetime.fromisoformat(expires) if expires else None,
                refresh_token=stored["refresh_token"],
            )
        return Tokens(access_token="", expires_at=None, refresh_token=self.entered)

    def save(self, tokens: Tokens) -> None:
        value = {
            "seed": _digest(self.entered),
            "access_token": tokens.access_token,
            "expires_at": tokens.expires_at.isoformat() if tokens.expires_at else "",
            "refresh_token": tokens.refresh_token,
        }
        if connection.vendor == "sqlite":
            # The laptop demo's SQLite has one writer at a time: a second connection would wait on
            # the runner's own transaction. There the tokens are kept until `flush`, which the handler
            # calls when the run's batch ends, outside every event's savepoint: they survive a failing
            # event, not a crash.
            self._pending = value
            return
        _commit_apart(self.connector_id, value)

    def flush(self) -> None:
        """Write tokens kept back (SQLite only) in the runner's transaction."""
        if self._pending is not None:
            ConnectorToken.objects.update_or_create(
                connector_id=self.connector_id, defaults={"tokens": self._pending, "updated_at": timezone.now()}
            )
            self._pending = None


_UPSERT_TOKENS = (
    "INSERT INTO integrations_connectortoken (connector_id, tokens, updated_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (connector_id) DO UPDATE SET tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at"
)


def _commit_apart(connector_id: str, value: dict) -> None:
    """Upsert the tokens row from a connection of its own, in autocommit: committed when it returns."""
    current = connections[DEFAULT_DB_ALIAS]
    apart = type(current)(current.settings_dict, current.alias)
    try:
        sealed = ConnectorToken._meta.get_field("tokens").get_prep_value(value)
        with apart.cursor() as cursor:
            cursor.execute(_UPSERT_TOKENS, [connector_id, sealed, timezone.now()])
    finally:
        apart.close()
