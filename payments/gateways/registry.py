"""Provider name -> gateway class. A gateway account names its provider; `gateway_for` builds it.
Stripe and Adyen are built in; the sandbox registers itself when its app is installed (its apps.py)."""

from payments.gateways.adyen import AdyenGateway
from payments.gateways.base import Gateway
from payments.gateways.stripe import StripeGateway

GATEWAYS: dict[str, type[Gateway]] = {StripeGateway.provider: StripeGateway, AdyenGateway.provider: AdyenGateway}


def register(gateway_class: type[Gateway]) -> None:
    GATEWAYS[gateway_class.provider] = gateway_class


def provider_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(GATEWAYS)]


def gateway_class(account) -> type[Gateway]:
    """The provider's class, for what it declares (`supports_batch`, ...) without building it."""
    try:
        return GATEWAYS[account.provider]
    except KeyError:
        raise LookupError(f"No gateway integration named {account.provider!r}") from None


def provider_enabled(provider: str) -> bool:
    gateway = GATEWAYS.get(provider)
    return gateway is not None and gateway.enabled()


def gateway_for(account) -> Gateway:
    return gateway_class(account)(account)
