"""Sends one webhook request and reports what happened, without ever reaching an address the policy forbids.

The connector's resolver resolves each host once, drops every address the AddressPolicy refuses and hands
aiohttp only the addresses that passed, as numeric hosts, so aiohttp connects to exactly what was checked (a
DNS answer that changes between check and connect cannot matter). IP literals in URLs, which aiohttp does not
pass to the resolver, are checked before the request in every spelling parse_host_ip knows.

Redirects are never followed (a 3xx is just a non-2xx response), only the first KiB of a response body is read,
and exception text never reaches the result or the logs: it can carry internal addresses and hostnames.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from vauchflow_core.address_policy import AddressPolicy, parse_host_ip

log = logging.getLogger(__name__)

# Outcomes of an attempt that got no HTTP response.
TIMEOUT = "TIMEOUT"
CONNECTION_FAILED = "CONNECTION_FAILED"
ADDRESS_BLOCKED = "ADDRESS_BLOCKED"
INVALID_URL = "INVALID_URL"
TLS_ERROR = "TLS_ERROR"

BODY_LIMIT = 1024


@dataclass(frozen=True)
class SenderSettings:
    # Short: a receiver that does not even accept a connection in 2 s is down; waiting longer only holds a slot.
    connect_timeout: float = 2.0
    total_timeout: float = 15.0
    max_connections: int = 100
    max_connections_per_host: int = 32


@dataclass(frozen=True)
class SendResult:
    """status is None when no response arrived; then error names why. body is at most 1 KiB, decoded."""

    status: int | None
    latency_ms: int
    body: str
    error: str
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        """Only 2xx is success: a 3xx is not followed and counts as a failure like any other status."""
        return self.status is not None and 200 <= self.status < 300


class AddressBlocked(OSError):
    """Every address of a host is refused by the address policy. An OSError so aiohttp wraps it like DNS errors."""


# getaddrinfo's signature as the resolver uses it: (host, port, family) -> [(family, type, proto, name, sockaddr)].
Lookup = Callable[[str, int, int], Awaitable[list[tuple[Any, ...]]]]


async def system_lookup(host: str, port: int, family: int) -> list[tuple[Any, ...]]:
    return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)


class PolicyResolver(AbstractResolver):
    """Resolves a host once and returns only the addresses the policy allows, as numeric hosts."""

    def __init__(self, policy: AddressPolicy, lookup: Lookup = system_lookup) -> None:
        self._policy = policy
        self._lookup = lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        literal = parse_host_ip(host)
        if literal is not None:
            candidates = [(socket.AF_INET if literal.version == 4 else socket.AF_INET6, str(literal), 0)]
        else:
            candidates = [
                (fam, address[0], address[3] if fam == socket.AF_INET6 else 0)
                for fam, _, _, _, address in await self._lookup(host, port, family)
                if fam in (socket.AF_INET, socket.AF_INET6)
            ]
        results: list[ResolveResult] = []
        for fam, address, scope_id in candidates:
            ip = parse_host_ip(address)
            if ip is None or not self._policy.is_allowed_endpoint(ip, port):
                continue
            numeric = f"{ip}%{scope_id}" if scope_id else str(ip)
            flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
            results.append(ResolveResult(hostname=host, host=numeric, port=port, family=fam, proto=0, flags=flags))
        if not results:
            raise AddressBlocked("no allowed address")
        return results

    async def close(self) -> None:
        pass


class HttpSender:
    """One connection pool for all webhook requests of a process; use as an async context manager.

    ssl_context may add trusted CAs but must keep verification on; lookup replaces getaddrinfo (tests script DNS
    answers with it, e.g. a rebinding name).
    """

    def __init__(
        self,
        policy: AddressPolicy,
        settings: SenderSettings = SenderSettings(),
        *,
        ssl_context: ssl.SSLContext | None = None,
        lookup: Lookup = system_lookup,
    ) -> None:
        self._policy = policy
        self._lookup = lookup
        self._settings = settings
        verifies = ssl_context is None or (ssl_context.verify_mode == ssl.CERT_REQUIRED and ssl_context.check_hostname)
        if not verifies:
            raise ValueError("webhook TLS must verify certificates and host names")
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpSender:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=PolicyResolver(self._policy, self._lookup),
            limit=self._settings.max_connections,
            limit_per_host=self._settings.max_connections_per_host,
            ssl=self._ssl_context,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Receivers of different tenants must not see each other's cookies; proxies from the environment
            # would connect on our behalf to addresses we never checked.
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            timeout=aiohttp.ClientTimeout(
                total=self._settings.total_timeout, sock_connect=self._settings.connect_timeout
            ),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POSTs body to url. Never raises for anything the network or the receiver does."""
        if self._session is None:
            raise RuntimeError("HttpSender is not started")
        started = time.monotonic()

        def outcome(error: str, status: int | None = None, text: str = "", retry_after: float | None = None):
            return SendResult(status, int((time.monotonic() - started) * 1000), text, error, retry_after)

        target = _target(url)
        if target is None:
            return self._logged(outcome(INVALID_URL), None)
        literal = parse_host_ip(target.host or "")
        if literal is not None and not self._policy.is_allowed_endpoint(literal, target.port or 0):
            return self._logged(outcome(ADDRESS_BLOCKED), target.host)
        try:
            async with self._session.post(target, data=body, headers=dict(headers), allow_redirects=False) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))
                try:
                    text = await _read_prefix(resp, BODY_LIMIT)
                except (TimeoutError, aiohttp.ClientError, OSError):
                    text = ""  # the status line arrived: that is the receiver's answer
                return self._logged(outcome("", status, text, retry_after), target.host)
        except Exception as exc:
            return self._logged(outcome(_classify(exc)), target.host, type(exc).__name__)

    def _logged(self, result: SendResult, host: str | None, exception: str | None = None) -> SendResult:
        # Only the host: URLs can carry credentials in their path or query.
        log.debug(
            "webhook request",
            extra={"action": "webhook_send", "host": host, "status": result.status, "error": result.error,
                   "latency_ms": result.latency_ms, "exception": exception},
        )  # fmt: skip
        return result


def _target(url: str) -> URL | None:
    try:
        target = URL(url)
    except (ValueError, TypeError):
        return None
    if target.scheme not in ("http", "https") or not target.host or target.user or target.password:
        return None
    host = target.host
    ip = parse_host_ip(host)
    if ip is None:
        # Hosts aiohttp treats as IP literals (they skip the resolver) must be IPs parse_host_ip recognises.
        return None if ":" in host or host.replace(".", "").isdigit() else target
    if "%" in host:
        return target  # keep the zone id: only an allow-listed link-local address gets this far
    # Canonical form, as browsers serialise it ("127.1" is 127.0.0.1): aiohttp refuses the legacy spellings.
    return target.with_host(str(ip))


async def _read_prefix(resp: aiohttp.ClientResponse, limit: int) -> str:
    """At most limit bytes of the body; the rest is never read (the connection is then closed, not reused)."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = await resp.content.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _classify(exc: BaseException) -> str:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(e, AddressBlocked) for e in chain):
        return ADDRESS_BLOCKED
    if any(isinstance(e, (aiohttp.ClientSSLError, ssl.SSLError, ssl.CertificateError)) for e in chain):
        return TLS_ERROR
    if isinstance(exc, aiohttp.InvalidURL):
        return INVALID_URL
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TIMEOUT
    return CONNECTION_FAILED


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
