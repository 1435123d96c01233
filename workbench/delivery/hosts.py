"""Which hosts an admin may point outgoing requests at (S3 endpoints, webhook and Slack URLs).

Both features are admin-only and reach out to an address the admin types, so some server-side
request forgery is inherent: an admin may name an internal MinIO or an internal receiver on
purpose. What is refused is what no legitimate target is: an IP literal that is link-local
(169.254.0.0/16, where clouds serve instance metadata and its credentials; fe80::/10),
unspecified (0.0.0.0, ::), multicast or reserved, also in IPv4-mapped IPv6 form. Host names
are not resolved when saved (the answer may differ when sending: DNS rebinding); https with a
verified certificate is what keeps a name from reaching a service that has none (the metadata
service speaks plain http, which is refused to anything but this machine).
"""

from __future__ import annotations

import ipaddress
import re

# A DNS name (labels of letters, digits, hyphens and underscores, which internal names have;
# an IDN in its xn-- form) or an IP address.
HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$")


def refused_address(host: str) -> str | None:
    """Why ``host`` (an IP literal) must not be reached, or None (a name, or an allowed IP)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address.is_unspecified or address.is_multicast:
        return f"{host} is not the address of one server"
    if address.is_link_local:
        return (f"{host} is a link-local address (169.254.x.x serves a cloud machine's "
                "metadata and credentials); give the server's own address or name")
    if address.is_loopback or address.is_private:
        return None  # this machine, or an internal server (is_reserved counts ::1 in)
    if address.is_reserved:
        return f"{host} is not the address of one server"
    return None


def check_host(host: str) -> None:
    """``ValueError`` naming what is wrong with ``host`` as a server to send to: it must be a
    DNS name in ASCII (an IDN in its ``xn--`` form) or an IP address, and not one refused by
    ``refused_address``."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        if not HOST_NAME.match(host):
            ascii_form = _idna(host)
            hint = f" (give {ascii_form})" if ascii_form and ascii_form != host else ""
            raise ValueError(f"the host must be a DNS name or an IP address, not "
                             f"{host[:60]!r}{hint}") from None
    reason = refused_address(host)
    if reason:
        raise ValueError(reason)


def shown(host: str, port: int | None) -> str:
    """``host:port`` as a URL writes it (an IPv6 address in brackets)."""
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def _idna(host: str) -> str | None:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
