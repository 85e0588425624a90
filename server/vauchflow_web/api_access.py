"""The web service's one connection to the gRPC API, shared by every caller: each request gets a client that acts
with its caller's key (or the operator's token), passes the caller's request id on, and tells the API the
browser's or agent's address (Envoy's x-forwarded-for, which the API trusts only from Envoy)."""

from __future__ import annotations

import vauchflow
from vauchflow_web.config import WebConfig

# A placeholder: the root client never calls; every request uses with_options(api_key=...).
_NO_KEY = "vf_sk_unused"


class ApiAccess:
    def __init__(self, config: WebConfig):
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
        metadata = (("x-forwarded-for", client_address),) if client_address else ()
        return self._client.with_options(
            api_key=api_key,
            x_request_id=request_id,
            metadata=metadata,
            max_retries=max_retries,
            commit_position=commit_position or 0,
        )

    async def close(self) -> None:
        await self._client.close()
