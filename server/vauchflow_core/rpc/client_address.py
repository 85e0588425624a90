"""Who is calling, by network address: the peer itself, or (when the peer is a trusted proxy such as Envoy or the
web service) the address the proxies recorded in x-forwarded-for.

Walking x-forwarded-for from the right and skipping trusted hops is the only safe reading: everything left of
the last untrusted hop was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def peer_ip(peer: str) -> str:
    """'ipv4:127.0.0.1:5432' / 'ipv6:[::1]:5432' (gRPC's peer strings) → the address; anything else as it is."""
    if peer.startswith("ipv4:"):
        return peer[5:].rsplit(":", 1)[0]
    if peer.startswith("ipv6:"):
        return peer[5:].rsplit(":", 1)[0].strip("[]")
    return peer


def client_address(
    peer: str, metadata: Iterable[tuple[str, str | bytes]], trusted_proxies: tuple[IPNetwork, ...] = LOOPBACK
) -> str:
    address = peer_ip(peer)
    if not _trusted(address, trusted_proxies):
        return address
    forwarded = [
        hop.strip()
        for key, value in metadata
        if key == "x-forwarded-for" and isinstance(value, str)
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(forwarded):
        if not _trusted(hop, trusted_proxies):
            return hop if _is_ip(hop) else address
    return forwarded[0] if forwarded and _is_ip(forwarded[0]) else address


def _trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in trusted)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
