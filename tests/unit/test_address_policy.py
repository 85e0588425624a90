"""The address policy: every spelling of a non-public address is refused, public addresses pass, allow-lists work."""

from __future__ import annotations

import ipaddress

import pytest

from vauchflow_core.address_policy import AddressPolicy, parse_host_ip

# Hosts as they appear in a URL, with the address curl, browsers and getaddrinfo would connect to.
HOSTILE_HOSTS = {
    "127.0.0.1": "127.0.0.1",
    "127.1": "127.0.0.1",
    "127.0.1": "127.0.0.1",
    "2130706433": "127.0.0.1",
    "0x7f000001": "127.0.0.1",
    "0X7F000001": "127.0.0.1",
    "017700000001": "127.0.0.1",
    "0177.0.0.1": "127.0.0.1",
    "0x7f.0.0.1": "127.0.0.1",
    "0x7f.1": "127.0.0.1",
    "127.0.0.1.": "127.0.0.1",
    "127.255.255.254": "127.255.255.254",
    "\uff11\uff12\uff17\u3002\uff10\u3002\uff10\u3002\uff11": "127.0.0.1",  # full-width digits and dots
    "10.0.0.1": "10.0.0.1",
    "012.0.0.1": "10.0.0.1",
    "172.16.0.1": "172.16.0.1",
    "172.31.255.255": "172.31.255.255",
    "192.168.1.1": "192.168.1.1",
    "0xc0.0xa8.1.1": "192.168.1.1",
    "169.254.169.254": "169.254.169.254",
    "2852039166": "169.254.169.254",
    "0xa9fea9fe": "169.254.169.254",
    "100.64.0.1": "100.64.0.1",
    "100.127.255.254": "100.127.255.254",
    "0.0.0.0": "0.0.0.0",
    "0": "0.0.0.0",
    "0x": "0.0.0.0",  # browsers read an empty hex part as 0
    "224.0.0.1": "224.0.0.1",
    "239.255.255.250": "239.255.255.250",
    "255.255.255.255": "255.255.255.255",
    "240.0.0.1": "240.0.0.1",
    "192.0.0.8": "192.0.0.8",
    "198.18.0.1": "198.18.0.1",
    "[::1]": "::1",
    "[0:0:0:0:0:0:0:1]": "::1",
    "[::]": "::",
    "[::ffff:127.0.0.1]": "::ffff:127.0.0.1",
    "[::ffff:7f00:1]": "::ffff:127.0.0.1",
    "[::ffff:169.254.169.254]": "::ffff:169.254.169.254",
    "[::ffff:10.0.0.1]": "::ffff:10.0.0.1",
    "[::127.0.0.1]": "::7f00:1",  # IPv4-compatible (deprecated)
    "[::ffff:0:7f00:1]": "::ffff:0:7f00:1",  # IPv4-translated
    "[fd00::1]": "fd00::1",
    "[fc00::1]": "fc00::1",
    "[fd00:ec2::254]": "fd00:ec2::254",  # AWS metadata over IPv6
    "[fe80::1]": "fe80::1",
    "[fe80::1%25eth0]": "fe80::1",
    "[fe80::1%eth0]": "fe80::1",
    "[fec0::1]": "fec0::1",
    "[ff02::1]": "ff02::1",
    "[64:ff9b::7f00:1]": "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "[64:ff9b::169.254.169.254]": "64:ff9b::a9fe:a9fe",
    "[64:ff9b:1::1]": "64:ff9b:1::1",  # local-use NAT64
    "[2002:7f00:1::]": "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "[2002:a9fe:a9fe::1]": "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]": "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "[2001:db8::1]": "2001:db8::1",
    "[100::1]": "100::1",
}
PUBLIC_HOSTS = {
    "93.184.215.14": "93.184.215.14",
    "8.8.8.8": "8.8.8.8",
    "134744072": "8.8.8.8",
    "0x8.0x8.0x8.0x8": "8.8.8.8",
    "1.1.1.1.": "1.1.1.1",
    "100.128.0.1": "100.128.0.1",  # just past CGNAT
    "172.32.0.1": "172.32.0.1",  # just past 172.16/12
    "[2606:4700:4700::1111]": "2606:4700:4700::1111",
    "[::ffff:8.8.8.8]": "::ffff:8.8.8.8",
    "[64:ff9b::808:808]": "64:ff9b::808:808",  # NAT64 of a public address
    "[2002:808:808::1]": "2002:808:808::1",  # 6to4 of a public address
}
NAMES = ["localhost", "example.com", "1.2.3.4.5", "08.0.0.1", "256.0.0.1", "1.2.3.256", "4294967296",
         "127.0.0.1.example.com", "[::1", "[zz::1]", "", "0xg.0.0.1", "1..2"]  # fmt: skip


@pytest.mark.parametrize("host, address", HOSTILE_HOSTS.items())
def test_every_spelling_of_a_non_public_address_is_parsed_and_refused(host: str, address: str) -> None:
    ip = parse_host_ip(host)
    assert ip == ipaddress.ip_address(address)
    assert not AddressPolicy().is_allowed(ip)


@pytest.mark.parametrize("host, address", PUBLIC_HOSTS.items())
def test_public_addresses_are_allowed_in_any_spelling(host: str, address: str) -> None:
    ip = parse_host_ip(host)
    assert ip == ipaddress.ip_address(address)
    assert AddressPolicy().is_allowed(ip)


@pytest.mark.parametrize("host", NAMES)
def test_names_and_malformed_hosts_are_not_addresses(host: str) -> None:
    assert parse_host_ip(host) is None


def test_zone_ids_are_dropped_from_parsed_addresses() -> None:
    ip = parse_host_ip("[fe80::1%25eth0]")
    assert isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is None


def test_an_allowed_network_admits_exactly_its_addresses_in_every_spelling() -> None:
    policy = AddressPolicy.allowing(["127.0.0.1/32"])
    for host in ("127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"):
        assert policy.is_allowed(parse_host_ip(host)), host
    for host in ("127.0.0.2", "[::1]", "10.0.0.1", "169.254.169.254"):
        assert not policy.is_allowed(parse_host_ip(host)), host


def test_allow_listing_loopback_does_not_open_other_private_ranges() -> None:
    policy = AddressPolicy.allowing(["127.0.0.0/8", "::1/128"])
    assert policy.is_allowed(ipaddress.ip_address("127.0.0.2"))
    assert policy.is_allowed(ipaddress.ip_address("::1"))
    assert not policy.is_allowed(ipaddress.ip_address("192.168.0.1"))
    assert not policy.is_allowed(ipaddress.ip_address("fd00::1"))


def test_ipv6_allow_list_entries_do_not_match_ipv4_addresses() -> None:
    policy = AddressPolicy.allowing(["::/0"])
    assert policy.is_allowed(ipaddress.ip_address("fd00::1"))
    assert not policy.is_allowed(ipaddress.ip_address("10.0.0.1"))


def test_an_allow_listed_ipv6_address_with_a_zone_id_is_allowed() -> None:
    policy = AddressPolicy.allowing(["fe80::/10"])
    assert policy.is_allowed(ipaddress.IPv6Address("fe80::1%eth0"))


def test_denied_ports_close_allow_listed_addresses_only() -> None:
    policy = AddressPolicy((ipaddress.ip_network("127.0.0.0/8"),), denied_ports=frozenset({9901, 5432}))
    loopback = ipaddress.ip_address("127.0.0.1")
    assert not policy.is_allowed_endpoint(loopback, 9901)
    assert not policy.is_allowed_endpoint(ipaddress.ip_address("127.0.0.2"), 5432)
    assert policy.is_allowed_endpoint(loopback, 8000)
    # A public address is not the platform's own: its port 9901 is some merchant's.
    assert policy.is_allowed_endpoint(ipaddress.ip_address("93.184.216.34"), 9901)
    # A blocked address stays blocked on every port.
    assert not policy.is_allowed_endpoint(ipaddress.ip_address("10.0.0.1"), 443)
