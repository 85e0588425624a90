"""The web service's one connection to the gRPC API, shared by every caller: each request gets a client that acts
with its caller's key (or the operator's token), passes the caller's request id on, and tells the API the
browser's or agent's address (Envoy's x-forwarded-for, which the API trusts only from Envoy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import vauchflow
from vauchflow_web.config import WebConfig

# A placeholder: the root client never calls; every request uses with_options(api_key=...).
_NO_KEY = "vf_sk_unused"


class ApiAccess:
    def __init__(self, config: WebConfig):
        self._config = config
        self._client = vauchflow.AsyncClient(
            _NO_KEY,
            target=config.api_target,
            tls=config.api_tls,
            timeout=config.api_timeout_seconds,
            max_retries=1,
        )

    def as_caller(
        self,
        api_key: str,
        *,
        request_id: str,
        client_address: str | None = None,
        max_retries: int | None = None,
        commit_position: int | None = None,
    ) -> vauchflow.AsyncClient:
        """A client acting with api_key on the shared connection (with another retry budget, if given), reading at or
        after the caller's commit position (read-your-writes; the client's own writes raise it, see
        client.commit_position)."""
        return self._client.with_options(
            api_key=api_key,
            x_request_id=request_id,
            metadata=_forwarded(client_address),
            max_retries=max_retries,
            commit_position=commit_position or 0,
        )

    @asynccontextmanager
    async def as_operator(
        self, token: str, *, request_id: str, client_address: str | None = None
    ) -> AsyncIterator[vauchflow.AsyncOperatorClient]:
        """An operator client for one request, passing the request id and address on as as_caller does. Operator
        requests are rare: a connection of their own, closed when the request ends."""
        client = vauchflow.AsyncOperatorClient(
            token, target=self._config.api_target, tls=self._config.api_tls, timeout=self._config.api_timeout_seconds
        )
        try:
            yield client.with_options(x_request_id=request_id, metadata=_forwarded(client_address))
        finally:
            await client.close()

    async def close(self) -> None:
        await self._client.close()


def _forwarded(client_address: str | None) -> tuple[tuple[str, str], ...]:
    # The API trusts x-forwarded-for only from a trusted proxy (Envoy, or this service on its network).
    return (("x-forwarded-for", client_address),) if client_address else ()
