"""The clients: Client and AsyncClient for a tenant's API key, OperatorClient and AsyncOperatorClient for the
platform operator's token. One definition of the namespaces, on a blocking or an asyncio transport."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Generic, Self, cast

from vauchflow import _rpcs
from vauchflow._csv import Csv
from vauchflow._methods import Namespace, T, UnaryMethod
from vauchflow._resources import (
    ApiKeys,
    Campaigns,
    Events,
    Incidents,
    Operations,
    Redemptions,
    Tenants,
    Vouchers,
    WebhookEndpoints,
    _current_api_key,
)
from vauchflow._transport import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    AsyncioTransport,
    BlockingTransport,
    CommitPositions,
    Settings,
    resolve_settings,
    settings_with,
)

API_KEY_VARIABLE = "VAUCHFLOW_API_KEY"
OPERATOR_TOKEN_VARIABLE = "VAUCHFLOW_ADMIN_TOKEN"


class _TenantApi(Namespace[T], Generic[T]):
    """What a tenant API key can reach."""

    whoami = UnaryMethod(_rpcs.GET_CURRENT_API_KEY, _current_api_key)

    def __init__(self, transport: T) -> None:
        super().__init__(transport)
        self.vouchers: Vouchers[T] = Vouchers(transport)
        self.redemptions: Redemptions[T] = Redemptions(transport)
        self.webhook_endpoints: WebhookEndpoints[T] = WebhookEndpoints(transport)
        self.events: Events[T] = Events(transport)
        self.api_keys: ApiKeys[T] = ApiKeys(transport)
        self.campaigns: Campaigns[T] = Campaigns(transport)
        self.operations: Operations[T] = Operations(transport)
        self.csv: Csv[T] = Csv(transport)

    @property
    def settings(self) -> Settings:
        return self._transport.settings


class _OperatorApi(Namespace[T], Generic[T]):
    """What the platform operator token can reach."""

    def __init__(self, transport: T) -> None:
        super().__init__(transport)
        self.tenants: Tenants[T] = Tenants(transport)
        self.incidents: Incidents[T] = Incidents(transport)

    @property
    def settings(self) -> Settings:
        return self._transport.settings

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        x_request_id: str | None = None,
        metadata: tuple[tuple[str, str], ...] | None = None,
    ) -> Self:
        """The same client (same connection) with another timeout or retry budget, sending one x-request-id with
        every call, or sending more metadata (a service acting for a browser passes its request id and address)."""
        settings = settings_with(
            self._transport.settings, timeout=timeout, max_retries=max_retries, x_request_id=x_request_id,
            metadata=metadata,
        )  # fmt: skip
        # with_settings returns the transport's own type, which mypy can't tie to T through the union bound.
        transport = cast(T, self._transport.with_settings(settings))
        client = type(self).__new__(type(self))
        _OperatorApi.__init__(client, transport)
        return client


def _settings(
    token: str | None,
    token_variable: str,
    target: str | None,
    tls: bool | None,
    root_certificates: bytes | None,
    timeout: float,
    max_retries: int,
    event_stream_target: str | None,
    environ: Mapping[str, str] | None,
) -> Settings:
    return resolve_settings(
        token=token,
        token_variable=token_variable,
        target=target,
        tls=tls,
        root_certificates=root_certificates,
        timeout=timeout,
        max_retries=max_retries,
        event_stream_target=event_stream_target,
        environ=os.environ if environ is None else environ,
    )


class Client(_TenantApi[BlockingTransport]):
    """A tenant's blocking client.

    api_key: a `vf_sk_...` secret (default: $VAUCHFLOW_API_KEY). target: host:port (default: $VAUCHFLOW_TARGET,
    else the local Envoy at 127.0.0.1:8080). tls: on by default for every host but loopback; root_certificates
    (PEM) for a private CA. timeout: seconds per attempt. max_retries: how often a failed call that is safe to
    repeat is retried. event_stream_target: where the event stream is served, when not at `target`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        target: str | None = None,
        tls: bool | None = None,
        root_certificates: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        event_stream_target: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        settings = _settings(
            api_key, API_KEY_VARIABLE, target, tls, root_certificates, timeout, max_retries, event_stream_target,
            environ,
        )  # fmt: skip
        super().__init__(BlockingTransport(settings))

    @classmethod
    def _on(cls, transport: BlockingTransport) -> Self:
        client = cls.__new__(cls)
        _TenantApi.__init__(client, transport)
        return client

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        api_key: str | None = None,
        x_request_id: str | None = None,
        metadata: tuple[tuple[str, str], ...] | None = None,
        commit_position: int | None = None,
    ) -> Self:
        """The same client (same connection) with another timeout or retry budget, or acting with another key
        (a service acting for its callers shares one connection), sending one x-request-id with every call, or
        sending more metadata. The copy shares this client's commit position (read-your-writes) unless
        commit_position is given: then it starts from that one (a service acting for one of its callers passes
        the caller's, e.g. kept in the caller's session)."""
        settings = settings_with(
            self._transport.settings, timeout=timeout, max_retries=max_retries, api_key=api_key,
            x_request_id=x_request_id, metadata=metadata,
        )  # fmt: skip
        positions = CommitPositions(commit_position) if commit_position is not None else None
        return self._on(self._transport.with_settings(settings, positions))

    @property
    def commit_position(self) -> int | None:
        """The highest commit position the API answered this client's writes with (None before the first write
        to an API with a read replica); sent with every call so reads never see an older state."""
        return self._transport.positions.highest

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(_TenantApi[AsyncioTransport]):
    """A tenant's asyncio client; the same arguments as Client. Use `async with` or `await client.close()`."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        target: str | None = None,
        tls: bool | None = None,
        root_certificates: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        event_stream_target: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        settings = _settings(
            api_key, API_KEY_VARIABLE, target, tls, root_certificates, timeout, max_retries, event_stream_target,
            environ,
        )  # fmt: skip
        super().__init__(AsyncioTransport(settings))

    @classmethod
    def _on(cls, transport: AsyncioTransport) -> Self:
        client = cls.__new__(cls)
        _TenantApi.__init__(client, transport)
        return client

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        api_key: str | None = None,
        x_request_id: str | None = None,
        metadata: tuple[tuple[str, str], ...] | None = None,
        commit_position: int | None = None,
    ) -> Self:
        """The same client (same connection) with another timeout or retry budget, or acting with another key
        (a service acting for its callers shares one connection), sending one x-request-id with every call, or
        sending more metadata. The copy shares this client's commit position (read-your-writes) unless
        commit_position is given: then it starts from that one (a service acting for one of its callers passes
        the caller's, e.g. kept in the caller's session)."""
        settings = settings_with(
            self._transport.settings, timeout=timeout, max_retries=max_retries, api_key=api_key,
            x_request_id=x_request_id, metadata=metadata,
        )  # fmt: skip
        positions = CommitPositions(commit_position) if commit_position is not None else None
        return self._on(self._transport.with_settings(settings, positions))

    @property
    def commit_position(self) -> int | None:
        """The highest commit position the API answered this client's writes with (None before the first write
        to an API with a read replica); sent with every call so reads never see an older state."""
        return self._transport.positions.highest

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()


class OperatorClient(_OperatorApi[BlockingTransport]):
    """The platform operator's blocking client (tenancy). token: the operator token (default:
    $VAUCHFLOW_ADMIN_TOKEN); the other arguments as for Client."""

    def __init__(
        self,
        token: str | None = None,
        *,
        target: str | None = None,
        tls: bool | None = None,
        root_certificates: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        settings = _settings(
            token, OPERATOR_TOKEN_VARIABLE, target, tls, root_certificates, timeout, max_retries, None, environ
        )
        super().__init__(BlockingTransport(settings))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncOperatorClient(_OperatorApi[AsyncioTransport]):
    """The platform operator's asyncio client; the same arguments as OperatorClient."""

    def __init__(
        self,
        token: str | None = None,
        *,
        target: str | None = None,
        tls: bool | None = None,
        root_certificates: bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        settings = _settings(
            token, OPERATOR_TOKEN_VARIABLE, target, tls, root_certificates, timeout, max_retries, None, environ
        )
        super().__init__(AsyncioTransport(settings))

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()
