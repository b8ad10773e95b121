"""Where an API request comes from, resolved in one place."""

from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    """The client's address as DRF's throttles see it (`SimpleRateThrottle().get_ident`): the
    X-Forwarded-For entry that REST_FRAMEWORK["NUM_PROXIES"] trusts, else REMOTE_ADDR."""
    return BaseThrottle().get_ident(request)
