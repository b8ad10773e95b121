"""Gateway accounts: the operator's providers, with what each serves."""

import logging

from django.db import transaction

from integrations.kernel.errors import InvalidRequest
from integrations.services import event_emit
from payments.currency import (
    normalize_country,
    normalize_currency,
)
from payments.gateways.registry import GATEWAYS
from payments.models import (
    GatewayAccount,
)
from payments.representations import (
    gateway_account_repr,
)

logger = logging.getLogger("payments")


def _codes(values, *, normalize, param: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    result = []
    for value in values:
        try:
            code = normalize(value)
        except InvalidRequest as error:
            error.param = param
            raise
        if code not in result:
            result.append(code)
    return result


@transaction.atomic
def gateway_account_create(
    *,
    provider: str,
    display_name: str,
    credentials: dict | None = None,
    countries=(),
    currencies=(),
    priority: int = 100,
    active: bool = True,
    region: str = "",
) -> GatewayAccount:
    if provider not in GATEWAYS:
        raise InvalidRequest(f"Unknown provider '{provider}'.", code="parameter_invalid", param="provider")
    if not GATEWAYS[provider].enabled():
        raise InvalidRequest(GATEWAYS[provider].disabled_message, code="parameter_invalid", param="provider")
    account = GatewayAccount.objects.create(
        provider=provider,
        display_name=display_name.strip() or provider,
        credentials={**GATEWAYS[provider].default_credentials(), **(credentials or {})},
        countries=_codes(countries, normalize=normalize_country, param="countries"),
        currencies=_codes(currencies, normalize=normalize_currency, param="currencies"),
        priority=priority,
        active=active,
        region=(region or "").strip(),
    )
    event_emit(type="gateway_account.created", payload={"gateway_account": gateway_account_repr(account)})
    return account


@transaction.atomic
def gateway_account_update(*, account: GatewayAccount, credentials: dict | None = None, **changes) -> GatewayAccount:
    """Edit an account. Credentials are write-only: a blank value keeps the stored one."""
    account = GatewayAccount.objects.select_for_update().get(pk=account.pk)
    if "countries" in changes:
        changes["countries"] = _codes(changes["countries"], normalize=normalize_country, param="countries")
    if "currencies" in changes:
        changes["currencies"] = _codes(changes["currencies"], normalize=normalize_currency, param="currencies")
    for field, value in changes.items():
        if field not in ("display_name", "region", "countries", "currencies", "priority", "active"):
            raise InvalidRequest(f"Cannot change {field}.", code="parameter_invalid", param=field)
        setattr(account, field, value)
    if credentials:
        account.credentials = {**account.credentials, **{k: v for k, v in credentials.items() if v not in (None, "")}}
    account.save()
    event_emit(type="gateway_account.updated", payload={"gateway_account": gateway_account_repr(account)})
    return account
