"""Endpoint rules: URL validation against the address policy, event types, lengths; signing secret format."""

from __future__ import annotations

import base64
import ipaddress
import uuid

import pytest

from vauchflow_core.address_policy import AddressPolicy
from vauchflow_core.errors import InvalidArgument, Violations
from vauchflow_core.events import EVENT_TYPES
from vauchflow_core.secret_box import KeyRing, SecretBoxError, generate_key
from vauchflow_core.webhook_endpoints import (
    MAX_DESCRIPTION_LENGTH,
    MAX_URL_LENGTH,
    SUBSCRIBABLE_EVENT_TYPES,
    EndpointSettings,
    UrlPolicy,
    check_settings,
    format_signing_secret,
    generate_signing_secret,
    matches,
    normalize_event_types,
    open_signing_secret,
    seal_signing_secret,
    url_problem,
)

STRICT = UrlPolicy(AddressPolicy(), allow_http=False)
LOOPBACK_DEV = UrlPolicy(
    AddressPolicy((ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))), allow_http=True
)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/vauchflow",
        "https://hooks.example.com:8443/a/b?c=d",
        "HTTPS://Hooks.Example.com/",
        "https://93.184.216.34/hook",  # a public literal address
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
        "https://localhost.example.org/",  # a name: checked where it resolves, at delivery
    ],
)
def test_public_https_urls_are_accepted(url: str) -> None:
    assert url_problem(url, STRICT) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "must not be empty"),
        ("http://hooks.example.com/", "https://"),
        ("ftp://hooks.example.com/", "https://"),
        ("hooks.example.com/path", "https://"),
        ("https:///no-host", "must name a host"),
        ("https://user:pass@hooks.example.com/", "user name or password"),
        ("https://token@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com:0/", "not a valid URL"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("https://hooks.example.com/\x00", "spaces or control characters"),
        ("https://[::1/", "not a valid URL"),
        ("https://hooks.example.com/" + "a" * MAX_URL_LENGTH, f"at most {MAX_URL_LENGTH}"),
    ],
)
def test_malformed_or_insecure_urls_are_refused(url: str, problem: str) -> None:
    found = url_problem(url, STRICT)
    assert found is not None and problem in found, found


HOSTILE_HOSTS = [
    "127.0.0.1",
    "127.1",
    "2130706433",  # 127.0.0.1 as one decimal number
    "0x7f000001",
    "0177.0.0.1",
    "0x7f.1",
    "0.0.0.0",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "224.0.0.1",  # multicast
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[fd00::1]",
    "[fe80::1]",
    "[::]",
]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_literal_private_addresses_are_refused_in_any_spelling(host: str) -> None:
    problem = url_problem(f"https://{host}/hook", STRICT)
    assert problem is not None and "private, loopback" in problem


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "[::1]", "[::ffff:127.0.0.1]"])
def test_allow_listed_loopback_and_http_are_accepted_where_configured(host: str) -> None:
    assert url_problem(f"http://{host}:8080/hook", LOOPBACK_DEV) is None


@pytest.mark.parametrize("host", ["10.0.0.5", "169.254.169.254", "[fd00::1]", "192.168.1.1"])
def test_the_loopback_allow_list_does_not_open_other_private_ranges(host: str) -> None:
    assert url_problem(f"http://{host}/hook", LOOPBACK_DEV) is not None


def test_check_settings_names_every_offending_field() -> None:
    settings = EndpointSettings(
        url="http://hooks.example.com/",
        description="x" * (MAX_DESCRIPTION_LENGTH + 1),
        event_types=("voucher.created", "voucher.exploded"),
    )
    violations = Violations()
    check_settings(settings, STRICT, violations)
    with pytest.raises(InvalidArgument) as raised:
        violations.raise_if_any()
    assert {v.field for v in raised.value.violations} == {
        "webhook_endpoint.url",
        "webhook_endpoint.description",
        "webhook_endpoint.event_types",
    }
    assert "voucher.exploded" in raised.value.message


def test_every_event_type_but_the_test_event_can_be_subscribed_to() -> None:
    assert set(SUBSCRIBABLE_EVENT_TYPES) == set(EVENT_TYPES) - {"webhook.test"}
    violations = Violations()
    check_settings(EndpointSettings("https://h.example/", "", tuple(SUBSCRIBABLE_EVENT_TYPES)), STRICT, violations)
    violations.raise_if_any()
    check_settings(EndpointSettings("https://h.example/", "", ("webhook.test",)), STRICT, violations)
    with pytest.raises(InvalidArgument):
        violations.raise_if_any()


def test_event_type_filters() -> None:
    assert normalize_event_types([" voucher.created", "redemption.succeeded", "voucher.created"]) == (
        "redemption.succeeded",
        "voucher.created",
    )
    assert matches((), "voucher.created")
    assert matches(("voucher.created",), "voucher.created")
    assert not matches(("voucher.created",), "voucher.updated")


def test_signing_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    raw = generate_signing_secret()
    secret = format_signing_secret(raw)
    assert secret.startswith("whsec_")
    assert base64.b64decode(secret.removeprefix("whsec_"), validate=True) == raw and len(raw) == 32
    assert len({generate_signing_secret() for _ in range(100)}) == 100


def test_current_and_previous_secrets_cannot_stand_in_for_each_other() -> None:
    ring = KeyRing.from_keys({1: generate_key()})
    tenant_id, endpoint_id = uuid.uuid4(), uuid.uuid4()
    raw = generate_signing_secret()
    current = seal_signing_secret(ring, raw, tenant_id=tenant_id, endpoint_id=endpoint_id)
    previous = seal_signing_secret(ring, raw, tenant_id=tenant_id, endpoint_id=endpoint_id, previous=True)
    assert open_signing_secret(ring, current, tenant_id=tenant_id, endpoint_id=endpoint_id) == raw
    assert open_signing_secret(ring, previous, tenant_id=tenant_id, endpoint_id=endpoint_id, previous=True) == raw
    with pytest.raises(SecretBoxError):
        open_signing_secret(ring, previous, tenant_id=tenant_id, endpoint_id=endpoint_id)
    with pytest.raises(SecretBoxError):
        open_signing_secret(ring, current, tenant_id=tenant_id, endpoint_id=endpoint_id, previous=True)


def test_an_endpoint_may_not_name_a_port_of_the_platform_on_an_allow_listed_address() -> None:
    policy = UrlPolicy(
        AddressPolicy((ipaddress.ip_network("127.0.0.0/8"),), denied_ports=frozenset({9901, 80})), allow_http=True
    )
    assert "own" in (url_problem("http://127.0.0.1:9901/quitquitquit", policy) or "")
    assert "own" in (url_problem("http://127.0.0.1/x", policy) or "")  # the scheme's default port, 80
    assert url_problem("http://127.0.0.1:8000/hooks", policy) is None
