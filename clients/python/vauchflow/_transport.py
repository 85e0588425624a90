"""How calls travel: the channel (TLS or plaintext), the credentials and x-request-id sent with every call, the
per-call timeout, and the retry loop, once for blocking code and once for asyncio."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from vauchflow._errors import REQUEST_ID_HEADER, from_rpc_error
from vauchflow._retry import RetryPolicy
from vauchflow._rpcs import Retry, Rpc
from vauchflow._version import __version__

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)

DEFAULT_TARGET = "127.0.0.1:8080"  # the local Envoy's public port (`make run`): gRPC and REST
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
_USER_AGENT = f"vauchflow-python/{__version__}"
COMMIT_POSITION_HEADER = "x-vauchflow-commit-position"


@dataclass(frozen=True)
class Settings:
    """Everything a client's calls need, resolved once at construction."""

    token: str
    target: str = DEFAULT_TARGET
    tls: bool = False
    root_certificates: bytes | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Where EventStreamService is served: Envoy routes it to the webhook delivery service, so by default the same
    # target; set it when talking to the services directly.
    event_stream_target: str | None = None
    # Sent as x-request-id with every call instead of a fresh id per call (a service acting for its own caller
    # passes that caller's id on, so one id appears in every log that handled the request).
    x_request_id: str | None = None
    # More metadata for every call (e.g. the forwarded client address of a web request).
    extra_metadata: tuple[tuple[str, str], ...] = ()


def resolve_settings(
    *,
    token: str | None,
    token_variable: str,
    target: str | None,
    tls: bool | None,
    root_certificates: bytes | None,
    timeout: float,
    max_retries: int,
    event_stream_target: str | None,
    environ: Mapping[str, str],
) -> Settings:
    """Arguments first, then the environment (token_variable, VAUCHFLOW_TARGET), then defaults. TLS defaults to on
    for every host but loopback, and is always on when root certificates are given."""
    token = token or environ.get(token_variable, "")
    if not token:
        raise ValueError(f"no credentials: pass one or set {token_variable}")
    target = target or environ.get("VAUCHFLOW_TARGET") or DEFAULT_TARGET
    if tls is None:
        tls = root_certificates is not None or not _is_loopback(target)
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if max_retries < 0:
        raise ValueError("max_retries must be 0 or more")
    return Settings(
        token=token,
        target=target,
        tls=tls,
        root_certificates=root_certificates,
        timeout=timeout,
        retry=RetryPolicy(max_retries=max_retries),
        event_stream_target=event_stream_target,
    )


def _is_loopback(target: str) -> bool:
    host = target.rpartition(":")[0] if ":" in target else target
    host = host.removeprefix("dns:///").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _channel_options() -> list[tuple[str, Any]]:
    return [("grpc.primary_user_agent", _USER_AGENT)]


def with_request_id(rpc: Rpc[Req, Resp], request: Req) -> Req:
    """For a mutation that takes an idempotency key and was given none: a copy with a fresh one, which every
    retry of this call then reuses, so the server applies the call at most once."""
    # getattr/setattr: every WITH_REQUEST_ID request type has the field; the generic Message type does not say so.
    if rpc.retry is not Retry.WITH_REQUEST_ID or getattr(request, "request_id"):  # noqa: B009
        return request
    keyed = rpc.request_type()
    keyed.CopyFrom(request)
    setattr(keyed, "request_id", f"vf-{uuid.uuid4()}")  # noqa: B010
    return keyed


class CommitPositions:
    """Read-your-writes: the highest commit position the API answered this client's writes with (response
    metadata x-vauchflow-commit-position), sent back with every call so no read runs on a replica older than
    those writes. Shared by the copies with_options makes, and by threads."""

    def __init__(self, start: int | None = None) -> None:
        self._highest = start
        self._lock = threading.Lock()

    @property
    def highest(self) -> int | None:
        return self._highest

    def observe(self, metadata: Any) -> None:
        for key, value in metadata or ():
            if key == COMMIT_POSITION_HEADER and str(value).isdigit():
                with self._lock:
                    if self._highest is None or int(value) > self._highest:
                        self._highest = int(value)


class _TransportBase:
    def __init__(self, settings: Settings, positions: CommitPositions | None = None) -> None:
        self.settings = settings
        self.positions = positions if positions is not None else CommitPositions()
        self._stubs: dict[tuple[str, type[Any]], Any] = {}

    def _metadata(self, x_request_id: str) -> tuple[tuple[str, str], ...]:
        position = self.positions.highest
        return (
            ("authorization", f"Bearer {self.settings.token}"),
            (REQUEST_ID_HEADER, x_request_id),
            *(((COMMIT_POSITION_HEADER, str(position)),) if position else ()),
            *self.settings.extra_metadata,
        )

    def _new_request_id(self) -> str:
        return self.settings.x_request_id or str(uuid.uuid4())

    def _credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.settings.root_certificates)

    def _stream_target(self) -> str:
        return self.settings.event_stream_target or self.settings.target


class BlockingTransport(_TransportBase):
    """Blocking calls on grpc.Channel."""

    def __init__(
        self,
        settings: Settings,
        channels: dict[str, grpc.Channel] | None = None,
        positions: CommitPositions | None = None,
    ) -> None:
        super().__init__(settings, positions)
        # Shared by copies made with with_options(); closing any of them closes the connection.
        self._channels: dict[str, grpc.Channel] = channels if channels is not None else {}
        # A blocking client may be shared by threads: one channel per target, never two.
        self._lock = threading.Lock()

    def with_settings(self, settings: Settings, positions: CommitPositions | None = None) -> BlockingTransport:
        return BlockingTransport(settings, self._channels, positions or self.positions)

    def _channel(self, target: str) -> grpc.Channel:
        channel = self._channels.get(target)
        if channel is None:
            if self.settings.tls:
                channel = grpc.secure_channel(target, self._credentials(), _channel_options())
            else:
                channel = grpc.insecure_channel(target, _channel_options())
            self._channels[target] = channel
        return channel

    def _method(self, rpc: Rpc[Any, Any], target: str) -> Any:
        with self._lock:
            stub = self._stubs.get((target, rpc.stub))
            if stub is None:
                stub = self._stubs[(target, rpc.stub)] = rpc.stub(self._channel(target))
        return getattr(stub, rpc.method)

    def unary(self, rpc: Rpc[Req, Resp], request: Req) -> Resp:
        request = with_request_id(rpc, request)
        method = self._method(rpc, self.settings.target)
        x_request_id = self._new_request_id()
        retry_number = 0
        while True:
            try:
                response, call = method.with_call(
                    request, timeout=self.settings.timeout, metadata=self._metadata(x_request_id)
                )
                self.positions.observe(call.initial_metadata())
                return response  # type: ignore[no-any-return]
            except grpc.RpcError as failure:
                error = from_rpc_error(failure, x_request_id)
            delay = self.settings.retry.delay_before_retry(rpc.retry, error, retry_number)
            if delay is None:
                raise error
            time.sleep(delay)
            retry_number += 1

    def open_stream(self, rpc: Rpc[Req, Resp], request: Req) -> tuple[Iterator[Resp], grpc.Call, str]:
        """A server stream without a deadline; returns (responses, the call to cancel, its x-request-id)."""
        x_request_id = self._new_request_id()
        call = self._method(rpc, self._stream_target())(request, metadata=self._metadata(x_request_id))
        return call, call, x_request_id

    def download(self, rpc: Rpc[Req, Any], request: Req) -> Iterator[bytes]:
        """A server stream of google.api.HttpBody (a CSV export) from the API, without a deadline, as bytes."""
        x_request_id = self._new_request_id()
        call = self._method(rpc, self.settings.target)(request, metadata=self._metadata(x_request_id))
        try:
            for body in call:
                yield body.data
        except grpc.RpcError as failure:
            raise from_rpc_error(failure, x_request_id) from None
        finally:
            call.cancel()  # a no-op once the stream ended; stops the download when the caller stops reading

    def upload(self, rpc: Rpc[Req, Resp], requests: Iterator[Req]) -> Resp:
        """A client stream (a CSV import), without a deadline and never retried: the file may be read only once."""
        x_request_id = self._new_request_id()
        try:
            response: Resp = self._method(rpc, self.settings.target)(requests, metadata=self._metadata(x_request_id))
            return response
        except grpc.RpcError as failure:
            raise from_rpc_error(failure, x_request_id) from None

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


class AsyncioTransport(_TransportBase):
    """asyncio calls on grpc.aio.Channel, opened lazily inside the running event loop."""

    def __init__(
        self,
        settings: Settings,
        channels: dict[str, grpc.aio.Channel] | None = None,
        stubs: dict[tuple[str, type[Any]], Any] | None = None,
        positions: CommitPositions | None = None,
    ) -> None:
        super().__init__(settings, positions)
        self._channels: dict[str, grpc.aio.Channel] = channels if channels is not None else {}
        # Stubs hold only their channel, so copies share them too: a service acting for many callers (a copy per
        # request) builds each stub once, not once per request.
        if stubs is not None:
            self._stubs = stubs

    def with_settings(self, settings: Settings, positions: CommitPositions | None = None) -> AsyncioTransport:
        return AsyncioTransport(settings, self._channels, self._stubs, positions or self.positions)

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            if self.settings.tls:
                channel = grpc.aio.secure_channel(target, self._credentials(), _channel_options())
            else:
                channel = grpc.aio.insecure_channel(target, _channel_options())
            self._channels[target] = channel
        return channel

    def _method(self, rpc: Rpc[Any, Any], target: str) -> Any:
        stub = self._stubs.get((target, rpc.stub))
        if stub is None:
            stub = self._stubs[(target, rpc.stub)] = rpc.stub(self._channel(target))
        return getattr(stub, rpc.method)

    async def unary(self, rpc: Rpc[Req, Resp], request: Req) -> Resp:
        request = with_request_id(rpc, request)
        method = self._method(rpc, self.settings.target)
        x_request_id = self._new_request_id()
        retry_number = 0
        while True:
            try:
                call = method(request, timeout=self.settings.timeout, metadata=self._metadata(x_request_id))
                response: Resp = await call
                self.positions.observe(await call.initial_metadata())
                return response
            except grpc.RpcError as failure:
                error = from_rpc_error(failure, x_request_id)
            delay = self.settings.retry.delay_before_retry(rpc.retry, error, retry_number)
            if delay is None:
                raise error
            await asyncio.sleep(delay)
            retry_number += 1

    def open_stream(self, rpc: Rpc[Req, Resp], request: Req) -> tuple[Any, str]:
        """A server stream without a deadline; returns (the grpc.aio call, its x-request-id)."""
        x_request_id = self._new_request_id()
        call = self._method(rpc, self._stream_target())(request, metadata=self._metadata(x_request_id))
        return call, x_request_id

    async def download(self, rpc: Rpc[Req, Any], request: Req) -> AsyncIterator[bytes]:
        """A server stream of google.api.HttpBody (a CSV export) from the API, without a deadline, as bytes."""
        x_request_id = self._new_request_id()
        call = self._method(rpc, self.settings.target)(request, metadata=self._metadata(x_request_id))
        try:
            async for body in call:
                yield body.data
        except grpc.RpcError as failure:
            raise from_rpc_error(failure, x_request_id) from None
        finally:
            call.cancel()

    async def upload(self, rpc: Rpc[Req, Resp], requests: AsyncIterator[Req] | Iterator[Req]) -> Resp:
        """A client stream (a CSV import), without a deadline and never retried: the file may be read only once."""
        x_request_id = self._new_request_id()
        try:
            response: Resp = await self._method(rpc, self.settings.target)(
                requests, metadata=self._metadata(x_request_id)
            )
            return response
        except grpc.RpcError as failure:
            raise from_rpc_error(failure, x_request_id) from None

    async def close(self) -> None:
        channels = list(self._channels.values())
        self._channels.clear()
        self._stubs.clear()
        for channel in channels:
            await channel.close(None)


def settings_with(
    settings: Settings,
    *,
    timeout: float | None,
    max_retries: int | None,
    api_key: str | None = None,
    x_request_id: str | None = None,
    metadata: tuple[tuple[str, str], ...] | None = None,
) -> Settings:
    changed = settings
    if api_key is not None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        changed = replace(changed, token=api_key)
    if x_request_id is not None:
        changed = replace(changed, x_request_id=x_request_id or None)
    if metadata is not None:
        changed = replace(changed, extra_metadata=tuple(metadata))
    if timeout is not None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        changed = replace(changed, timeout=timeout)
    if max_retries is not None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        changed = replace(changed, retry=replace(changed.retry, max_retries=max_retries))
    return changed
