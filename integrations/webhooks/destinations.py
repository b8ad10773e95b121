"""Where a webhook may go: an https URL (http only while DEBUG or WEBHOOKS_ALLOW_PRIVATE_NETWORKS)
whose host resolves to public addresses only. Checked when an endpoint is saved and again before
every send (DNS can change); the send then connects to the address checked, not a fresh lookup."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from integrations.kernel.errors import InvalidRequest

MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class Destination:
    url: str
    host: str  # as written in the URL (the Host header and the TLS server name)
    port: int
    address: str  # the checked address the connection goes to


def _refused(message: str, code: str = "url_not_allowed") -> InvalidRequest:
    return InvalidRequest(message, code=code, param="url")


def private_networks_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False))


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    # is_global leaves out private, loopback, link-local, shared (100.64/10), reserved and documentation ranges.
    return ip.is_global and not ip.is_multicast


# Cloud metadata services (AWS's IPv6 one sits in the private fd00::/8 range).
_METADATA = {ipaddress.ip_address("fd00:ec2::254")}


def address_never_allowed(address: str) -> bool:
    """Never a receiver, even with WEBHOOKS_ALLOW_PRIVATE_NETWORKS: link-local (169.254.169.254,
    the cloud metadata service, lives there), the metadata services, unspecified and multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip in _METADATA


def url_parts(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a well-formed webhook URL, else 400 parameter_invalid naming `url`."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not url.isprintable() or " " in url:
        raise _refused(f"A URL of at most {MAX_URL_LENGTH} printable characters.", code="parameter_invalid")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refused("Not a valid URL.", code="parameter_invalid") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _refused("A webhook URL is https://host/path.", code="parameter_invalid")
    if parts.username is not None or parts.password is not None:
        raise _refused("A webhook URL carries no user name or password.", code="parameter_invalid")
    if parts.scheme == "http" and not (settings.DEBUG or private_networks_allowed()):
        raise _refused("A webhook URL must be https.", code="parameter_invalid")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def destination_resolve(url: str) -> Destination:
    """The URL checked and its host resolved: 400 url_not_allowed when any address it resolves to is
    private, loopback or reserved (unless WEBHOOKS_ALLOW_PRIVATE_NETWORKS), link-local or a cloud
    metadata address (always), or when it does not resolve at all."""
    _scheme, host, port = url_parts(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise _refused(f"The host {host!r} does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise _refused(f"The host {host!r} does not resolve.")
    # Every address, not the first: a name answering one public and one private address is refused.
    for address in addresses:
        if address_never_allowed(address):
            raise _refused(f"The host {host!r} resolves to {address}, a link-local or metadata address.")
        if not private_networks_allowed() and not address_is_public(address):
            raise _refused(
                f"The host {host!r} resolves to {address}, a private, loopback, link-local or reserved address."
            )
    return Destination(url=url, host=host, port=port, address=addresses[0])
