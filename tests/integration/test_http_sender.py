"""The webhook HTTP sender against real HTTP receivers on loopback: outcomes, limits, and SSRF refusals.

Canary receivers count every TCP connection they accept; where a request must not reach one, the test asserts
it accepted 0. The only network used is loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from support.ports import free_port
from support.webhook_receivers import Receiver, Reply, eventually
from vauchflow_core.address_policy import AddressPolicy
from vauchflow_delivery.http_sender import (
    ADDRESS_BLOCKED,
    CONNECTION_FAILED,
    INVALID_URL,
    TIMEOUT,
    TLS_ERROR,
    HttpSender,
    SenderSettings,
)
from vauchflow_delivery.signing import webhook_headers

LOOPBACK_ALLOWED = AddressPolicy.allowing(["127.0.0.0/8", "::1/128"])
NOTHING_ALLOWED = AddressPolicy()
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"type":"voucher.created","data":{"code":"SUMMER"}}'


def signed_headers(body: bytes = BODY) -> dict[str, str]:
    return webhook_headers([SECRET], "msg_2Ng1pC0hNr", int(time.time()), body)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def canary() -> Iterator[Receiver]:
    with Receiver() as c:
        yield c


@pytest.fixture
async def sender() -> AsyncIterator[HttpSender]:
    async with HttpSender(LOOPBACK_ALLOWED, SenderSettings(connect_timeout=2, total_timeout=5)) as s:
        yield s


async def test_a_2xx_answer_is_success_and_the_request_arrives_signed(receiver: Receiver, sender: HttpSender) -> None:
    receiver.reply = lambda _request: Reply(200, b"thanks")
    headers = signed_headers()
    result = await sender.send(receiver.url + "/hooks?tenant=1", BODY, headers)
    assert (result.status, result.body, result.error, result.succeeded) == (200, "thanks", "", True)
    assert result.latency_ms >= 0 and result.retry_after is None
    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/hooks?tenant=1", BODY)
    assert request.headers["user-agent"] == "Vauchflow-Webhooks/1"
    assert request.headers["content-type"] == "application/json"
    assert Webhook(SECRET).verify(request.body, request.headers)["type"] == "voucher.created"


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_every_2xx_is_success(status: int, receiver: Receiver, sender: HttpSender) -> None:
    receiver.reply = lambda _request: Reply(status)
    assert (await sender.send(receiver.url, BODY, signed_headers())).succeeded


@pytest.mark.parametrize("status", [400, 404, 410, 429, 500, 503])
async def test_other_statuses_are_failures_reported_with_their_status(
    status: int, receiver: Receiver, sender: HttpSender
) -> None:
    receiver.reply = lambda _request: Reply(status)
    result = await sender.send(receiver.url, BODY, signed_headers())
    assert (result.status, result.error, result.succeeded) == (status, "", False)


async def test_a_500_body_is_truncated_to_1_kib(receiver: Receiver, sender: HttpSender) -> None:
    long_body = "".join(f"line {i}: upstream exploded\n" for i in range(1000)).encode()
    receiver.reply = lambda _request: Reply(500, long_body)
    result = await sender.send(receiver.url, BODY, signed_headers())
    assert (result.status, result.succeeded) == (500, False)
    assert result.body == long_body[:1024].decode()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_a_failure_and_is_not_followed(
    status: int, receiver: Receiver, canary: Receiver, sender: HttpSender
) -> None:
    receiver.reply = lambda _request: Reply(status, b"moved", (("Location", canary.url + "/stolen"),))
    result = await sender.send(receiver.url, BODY, signed_headers())
    assert (result.status, result.error, result.succeeded) == (status, "", False)
    assert len(receiver.requests) == 1
    assert canary.connections == 0


async def test_retry_after_in_seconds_is_reported(receiver: Receiver, sender: HttpSender) -> None:
    receiver.reply = lambda _request: Reply(503, headers=(("Retry-After", "120"),))
    result = await sender.send(receiver.url, BODY, signed_headers())
    assert (result.status, result.retry_after) == (503, 120.0)


async def test_retry_after_as_an_http_date_is_reported_as_seconds_from_now(
    receiver: Receiver, sender: HttpSender
) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=300)
    http_date = email.utils.format_datetime(when, usegmt=True)
    receiver.reply = lambda _request: Reply(429, headers=(("Retry-After", http_date),))
    result = await sender.send(receiver.url, BODY, signed_headers())
    assert result.status == 429
    assert result.retry_after is not None and 295 <= result.retry_after <= 301


async def test_an_unreadable_retry_after_is_ignored(receiver: Receiver, sender: HttpSender) -> None:
    receiver.reply = lambda _request: Reply(503, headers=(("Retry-After", "soon"),))
    assert (await sender.send(receiver.url, BODY, signed_headers())).retry_after is None


async def test_a_receiver_that_never_answers_times_out() -> None:
    with Receiver(gate=threading.Event()) as stuck:
        async with HttpSender(LOOPBACK_ALLOWED, SenderSettings(connect_timeout=2, total_timeout=0.5)) as sender:
            result = await sender.send(stuck.url, BODY, signed_headers())
        assert (result.status, result.error, result.succeeded) == (None, TIMEOUT, False)
        assert 450 <= result.latency_ms < 5000
        assert len(stuck.requests) == 1  # it connected and sent; the answer never came


async def test_a_connect_that_never_completes_times_out() -> None:
    # A listener with a full accept queue: Linux drops further SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        async with HttpSender(LOOPBACK_ALLOWED, SenderSettings(connect_timeout=0.3, total_timeout=5)) as sender:
            result = await sender.send(f"http://127.0.0.1:{port}/", BODY, signed_headers())
        assert (result.status, result.error) == (None, TIMEOUT)
        assert result.latency_ms < 4000  # the connect timeout fired, not the total one
    finally:
        for s in (*fillers, listener):
            s.close()


async def test_a_refused_connection_is_connection_failed(sender: HttpSender) -> None:
    result = await sender.send(f"http://127.0.0.1:{free_port()}/", BODY, signed_headers())
    assert (result.status, result.error, result.body) == (None, CONNECTION_FAILED, "")


async def test_an_unresolvable_name_is_connection_failed(sender: HttpSender) -> None:
    result = await sender.send("http://no-such-host.invalid/", BODY, signed_headers())
    assert (result.status, result.error) == (None, CONNECTION_FAILED)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/",
        "not a url",
        "http://",
        "/relative/path",
        "http://user:pw@127.0.0.1/",
        "http://[::1/",
        "http://[zz::1]/",
        "http://1.2.3.4.5.6/",
        "http://08.0.0.1/",
    ],
)
async def test_unusable_urls_are_invalid(url: str, sender: HttpSender) -> None:
    result = await sender.send(url, BODY, signed_headers())
    assert (result.status, result.error) == (None, INVALID_URL)


async def test_https_to_a_plain_http_receiver_is_a_tls_error(receiver: Receiver, sender: HttpSender) -> None:
    result = await sender.send(receiver.url.replace("http://", "https://"), BODY, signed_headers())
    assert (result.status, result.error) == (None, TLS_ERROR)


async def test_https_certificates_are_verified(tmp_path: Path) -> None:
    cert, key = _self_signed_certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    with Receiver(ssl_context=server_context) as tls_receiver:
        async with HttpSender(LOOPBACK_ALLOWED) as sender:
            untrusted = await sender.send(tls_receiver.url, BODY, signed_headers())
        assert (untrusted.status, untrusted.error) == (None, TLS_ERROR)
        assert tls_receiver.requests == []
        trusting = ssl.create_default_context(cafile=str(cert))
        async with HttpSender(LOOPBACK_ALLOWED, ssl_context=trusting) as sender:
            trusted = await sender.send(tls_receiver.url, BODY, signed_headers())
        assert (trusted.status, trusted.error) == (200, "")


async def test_a_context_without_verification_is_refused() -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError):
        HttpSender(LOOPBACK_ALLOWED, ssl_context=unverified)


async def test_failures_are_logged_without_exception_text(caplog: pytest.LogCaptureFixture, sender: HttpSender) -> None:
    caplog.set_level(logging.DEBUG, logger="vauchflow_delivery.http_sender")
    port = free_port()
    await sender.send(f"http://127.0.0.1:{port}/secret-path?token=hunter2", BODY, signed_headers())
    await sender.send("http://no-such-host.invalid/", BODY, signed_headers())
    records = [r for r in caplog.records if getattr(r, "action", None) == "webhook_send"]
    assert [r.error for r in records] == [CONNECTION_FAILED, CONNECTION_FAILED]
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in records)
    for leak in ("hunter2", "secret-path", "Connect call failed", "Name or service", "Errno", "Cannot connect"):
        assert leak not in logged


async def test_concurrency_per_host_is_bounded() -> None:
    gate = threading.Event()
    with Receiver(gate=gate) as slow:
        settings = SenderSettings(max_connections=10, max_connections_per_host=2)
        async with HttpSender(LOOPBACK_ALLOWED, settings) as sender:
            sends = [asyncio.create_task(sender.send(slow.url, BODY, signed_headers())) for _ in range(6)]
            await eventually(lambda: slow.in_flight == 2, what="two requests held by the receiver")
            gate.set()
            results = await asyncio.gather(*sends)
        assert all(r.succeeded for r in results)
        assert slow.max_in_flight == 2 and len(slow.requests) == 6


async def test_concurrency_overall_is_bounded() -> None:
    gate = threading.Event()
    with Receiver(gate=gate) as first, Receiver(host="127.0.0.2", gate=gate) as second:
        settings = SenderSettings(max_connections=3, max_connections_per_host=3)
        async with HttpSender(LOOPBACK_ALLOWED, settings) as sender:
            sends = [asyncio.create_task(sender.send(r.url, BODY, signed_headers()))
                     for r in (first, second) for _ in range(3)]  # fmt: skip
            await eventually(lambda: first.in_flight + second.in_flight == 3, what="three requests held")
            gate.set()
            results = await asyncio.gather(*sends)
        assert all(r.succeeded for r in results)
        assert len(first.requests) + len(second.requests) == 6


# --- SSRF: with loopback not allow-listed, nothing reaches the canaries -------------------------------------------


def hostile_urls(port: int) -> list[str]:
    hosts = [
        "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "017700000001", "0177.0.0.1", "0x7f.0.0.1",
        "0x7f.1", "127.0.0.1.", "localhost", "LOCALHOST", "[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "0.0.0.0",
        "0", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
        "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "[::ffff:169.254.169.254]", "100.64.0.1",
        "224.0.0.1", "255.255.255.255", "[fd00::1]", "[fd00:ec2::254]", "[fe80::1]", "[fe80::1%25lo]", "[ff02::1]",
    ]  # fmt: skip
    return [f"http://{host}:{port}/hook" for host in hosts] + [f"https://{host}:{port}/hook" for host in hosts[:3]]


async def test_hostile_targets_are_refused_and_no_canary_sees_a_connection() -> None:
    port = _free_port_on_both_loopbacks()  # every spelling of loopback points at a canary
    with Receiver(port=port) as canary4, Receiver(host="::1", port=port) as canary6:
        async with HttpSender(NOTHING_ALLOWED, SenderSettings(connect_timeout=0.5, total_timeout=1)) as sender:
            urls = hostile_urls(port)
            results = {url: await sender.send(url, BODY, signed_headers()) for url in urls}
        assert len(urls) >= 25
        assert {url: r.error for url, r in results.items() if r.error != ADDRESS_BLOCKED} == {}
        assert all(r.status is None for r in results.values())
        assert (canary4.connections, canary6.connections) == (0, 0)


async def test_a_redirect_from_an_allowed_receiver_to_loopback_is_refused(receiver: Receiver) -> None:
    # Only the receiver's exact address is allowed; the canary listens on another loopback address.
    with Receiver(host="127.0.0.2") as canary:
        receiver.reply = lambda _request: Reply(302, headers=(("Location", canary.url + "/internal"),))
        policy = AddressPolicy.allowing(["127.0.0.1/32"])
        async with HttpSender(policy) as sender:
            redirected = await sender.send(receiver.url, BODY, signed_headers())
            direct = await sender.send(canary.url + "/internal", BODY, signed_headers())
        assert (redirected.status, redirected.succeeded) == (302, False)
        assert len(receiver.requests) == 1
        assert direct.error == ADDRESS_BLOCKED
        assert canary.connections == 0


async def test_with_loopback_allow_listed_every_loopback_spelling_is_delivered(receiver: Receiver) -> None:
    spellings = ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "[::ffff:127.0.0.1]"]
    async with HttpSender(LOOPBACK_ALLOWED) as sender:
        results = [await sender.send(f"http://{host}:{receiver.port}/", BODY, signed_headers()) for host in spellings]
    assert [(r.status, r.error) for r in results] == [(200, "")] * len(spellings)
    assert len(receiver.requests) == len(spellings)


async def test_ipv6_loopback_is_delivered_when_allow_listed() -> None:
    with Receiver(host="::1") as receiver6:
        async with HttpSender(AddressPolicy.allowing(["::1/128"])) as sender:
            assert (await sender.send(receiver6.url, BODY, signed_headers())).succeeded
            ipv4 = await sender.send(f"http://127.0.0.1:{receiver6.port}/", BODY, signed_headers())
        assert ipv4.error == ADDRESS_BLOCKED


# --- DNS answers from a table (the only way to script rebinding without a DNS server); connections are real ------


class ScriptedDns:
    """Answers one list of addresses per lookup, in turn; counts lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups = 0

    async def __call__(self, host: str, port: int, family: int) -> list[tuple]:
        answer = self.answers[min(self.lookups, len(self.answers) - 1)]
        self.lookups += 1
        return [_addrinfo(address, port) for address in answer]


def _addrinfo(address: str, port: int) -> tuple:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
    return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))


async def test_a_name_with_mixed_answers_connects_only_to_the_allowed_address() -> None:
    port = _free_port_on_both_loopbacks()
    with Receiver(port=port) as allowed, Receiver(host="127.0.0.2", port=port) as canary:
        dns = ScriptedDns(["127.0.0.2", "127.0.0.1"])
        async with HttpSender(AddressPolicy.allowing(["127.0.0.1/32"]), lookup=dns) as sender:
            results = [await sender.send(f"http://hooks.example.com:{port}/", BODY, signed_headers()) for _ in range(5)]
        assert all(r.succeeded for r in results)
        assert len(allowed.requests) == 5 and canary.connections == 0
        assert allowed.requests[0].headers["host"] == f"hooks.example.com:{port}"


async def test_a_dns_answer_that_changes_after_the_check_is_never_connected_to() -> None:
    # Rebinding: the first answer is allowed, every later one points at the canary. The sender resolves once
    # per connection and connects to the address it checked, so the canary stays untouched.
    port = _free_port_on_both_loopbacks()
    with Receiver(port=port), Receiver(host="127.0.0.2", port=port) as canary:
        dns = ScriptedDns(["127.0.0.1"], ["127.0.0.2"])
        async with HttpSender(AddressPolicy.allowing(["127.0.0.1/32"]), lookup=dns) as sender:
            first = await sender.send(f"http://rebind.example.com:{port}/", BODY, signed_headers())
            assert first.succeeded and dns.lookups == 1
            later = [await sender.send(f"http://rebind.example.com:{port}/", BODY, signed_headers()) for _ in range(3)]
        assert canary.connections == 0
        assert all(r.succeeded or r.error == ADDRESS_BLOCKED for r in later)


async def test_a_name_resolving_only_to_blocked_addresses_is_refused() -> None:
    with Receiver(host="127.0.0.2") as canary:
        dns = ScriptedDns(["127.0.0.2", "::1", "169.254.169.254"])
        async with HttpSender(AddressPolicy.allowing(["127.0.0.1/32"]), lookup=dns) as sender:
            result = await sender.send(f"http://evil.example.com:{canary.port}/", BODY, signed_headers())
        assert (result.status, result.error) == (None, ADDRESS_BLOCKED)
        assert canary.connections == 0


def _free_port_on_both_loopbacks() -> int:
    """A port free on 127.0.0.1, 127.0.0.2 and ::1 alike, so canaries on each can share it."""
    for _ in range(50):
        port = free_port()
        try:
            for family, host in ((socket.AF_INET, "127.0.0.2"), (socket.AF_INET6, "::1")):
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.bind((host, port))
        except OSError:
            continue
        return port
    raise AssertionError("no port free on every loopback address")


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_a_denied_port_on_an_allow_listed_address_is_never_connected_to(
    receiver: Receiver, canary: Receiver
) -> None:
    """Allowing loopback for local receivers must not open the stack's own ports (Envoy admin, metrics, ...)."""
    policy = AddressPolicy(LOOPBACK_ALLOWED.allowed_networks, denied_ports=frozenset({receiver.port}))
    async with HttpSender(policy, SenderSettings(connect_timeout=2, total_timeout=5)) as sender:
        for url in (f"http://127.0.0.1:{receiver.port}/x", f"http://localhost:{receiver.port}/x",
                    f"http://127.1:{receiver.port}/x", f"http://[::ffff:127.0.0.1]:{receiver.port}/x"):  # fmt: skip
            assert (await sender.send(url, BODY, signed_headers())).error == ADDRESS_BLOCKED, url
        assert receiver.requests == []
        # Another loopback port stays usable.
        assert (await sender.send(canary.url + "/x", BODY, signed_headers())).status == 200
