"""Which IP addresses outgoing webhook requests may reach, and every way a URL host can spell an IP address.

Pure: no DNS, no sockets. The webhook sender resolves a host once, keeps only the addresses this policy allows
and connects to exactly those, so the check applies to the address actually connected to.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never reachable from a webhook unless allow-listed: loopback, private, link-local (cloud metadata lives at
# 169.254.169.254 and fd00:ec2::254), shared/CGNAT, multicast, and everything reserved or documentation-only.
BLOCKED_IPV4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
    )
)
BLOCKED_IPV6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/8",  # unspecified, loopback, IPv4-compatible and -translated (mapped and NAT64 are unwrapped first)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001:2::/48",  # benchmarking
        "2001:10::/28",  # ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "fc00::/7",  # unique local, includes fd00::/8
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Characters that IDNA mapping (as browsers apply it) turns into a dot.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


@dataclass(frozen=True)
class AddressPolicy:
    """Blocks every non-public address unless it lies in one of allowed_networks (tests and dev allow loopback).

    denied_ports: ports that stay refused on every address that is reachable only thanks to the allow-list, so
    allowing loopback for local receivers never opens the stack's own ports (Envoy's admin, metrics, PostgreSQL,
    Redis, the services) to a tenant's endpoint URL.
    """

    allowed_networks: tuple[IPNetwork, ...] = ()
    denied_ports: frozenset[int] = frozenset()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def is_allowed(self, ip: IPAddress) -> bool:
        ip = _without_zone(ip)
        if self._allow_listed(ip):
            return True
        if isinstance(ip, ipaddress.IPv4Address):
            return not any(ip in net for net in BLOCKED_IPV4)
        if ip in _IPV4_MAPPED:
            # ::ffff:a.b.c.d is the IPv4 host a.b.c.d itself to a dual-stack socket.
            return self.is_allowed(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _NAT64:
            # Inside ::/8, but a NAT64 gateway forwards it to the embedded IPv4 address.
            return self.is_allowed(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(ip in net for net in BLOCKED_IPV6):
            return False
        return all(self.is_allowed(v4) for v4 in _embedded_ipv4(ip))

    def is_allowed_endpoint(self, ip: IPAddress, port: int) -> bool:
        """is_allowed, and the port is not one of the denied ports of an allow-listed address."""
        if not self.is_allowed(ip):
            return False
        return port not in self.denied_ports or self._is_public(ip)

    def _is_public(self, ip: IPAddress) -> bool:
        return AddressPolicy().is_allowed(ip)

    def _allow_listed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that a 6to4 or Teredo address (server and client) delivers to."""
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def _without_zone(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return ipaddress.IPv6Address(int(ip))
    return ip


def parse_host_ip(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, or None when it is a name.

    Accepts what curl, browsers (WHATWG URL) and getaddrinfo/inet_aton accept: dotted quads, 1-3 part short
    forms ("127.1"), whole numbers ("2130706433"), octal ("0177.0.0.1") and hex ("0x7f.1") parts, a trailing
    dot, full-width digits and dots, "0x" alone (0, as browsers read it), bracketed IPv6 with or without a zone
    id ("%25eth0" or "%eth0"), and IPv6 with an embedded dotted quad ("::ffff:127.0.0.1"). Where they disagree,
    the reading that yields an address wins: refusing too much is safe, connecting to a missed one is not.
    The returned IPv6 address carries no zone id.
    """
    host = unicodedata.normalize("NFKC", host).translate(_DOTS).strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        return _parse_ipv6(host)
    return _parse_ipv4(host)


def _parse_ipv6(host: str) -> ipaddress.IPv6Address | None:
    address, _, _zone = host.partition("%")
    try:
        return ipaddress.IPv6Address(address)
    except ValueError:
        return None


def _parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    if host.endswith("."):
        host = host[:-1]
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    parsed = [_ipv4_number(p) for p in parts]
    numbers = [n for n in parsed if n is not None]
    if len(numbers) != len(parsed):
        return None
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (5 - len(numbers))):
        return None
    value = last
    for i, n in enumerate(leading):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int | None:
    """One part of an IPv4 host, as inet_aton reads it: 0x-prefixed hex, 0-prefixed octal, else decimal."""
    if not part or not part.isascii():
        return None
    base, digits = 10, part
    if part[:2] == "0x":
        base, digits = 16, part[2:] or "0"
    elif len(part) > 1 and part[0] == "0":
        base, digits = 8, part[1:]
    allowed = "0123456789abcdef"[:base]
    if not digits or any(c not in allowed for c in digits):
        return None
    return int(digits, base)
