"""The server interceptor every RPC passes through: authorise, set the principal, map errors.

Handlers are wrapped (rather than authorising inside intercept_service) so the principal contextvar is set in
the same task that runs the handler, and so every error of every RPC goes through error_mapping.
"""

from __future__ import annotations

import logging
import time

import grpc

from vauchflow_server import error_mapping
from vauchflow_server.auth import Authenticator
from vauchflow_server.errors import DomainError
from vauchflow_server.tenancy import current_principal

log = logging.getLogger(__name__)


class RequestBoundary(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator):
        self._authenticator = authenticator

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            # Streaming methods: only health Watch and reflection today, both public.
            return handler
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler_call_details.method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, method: str, behaviour):
        authenticator = self._authenticator

        async def guarded(request, context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            try:
                principal = await authenticator.authorize(method, context.invocation_metadata() or ())
                token = current_principal.set(principal)
                try:
                    return await behaviour(request, context)
                finally:
                    current_principal.reset(token)
            except grpc.aio.AbortError:
                raise
            except DomainError as error:
                code, status = error_mapping.to_rpc_status(error)
                log.info(
                    "rpc refused",
                    extra={"action": "rpc_refused", "method": method, "reason": error.reason, "code": code.name},
                )
                await error_mapping.abort(context, code, status)
            except Exception as error:  # noqa: BLE001 - the boundary: nothing unexpected escapes as text
                code, status = error_mapping.internal_status()
                tb = error.__traceback__
                while tb is not None and tb.tb_next is not None:
                    tb = tb.tb_next
                where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
                # Type and location only: an exception's text can carry SQL or secrets.
                log.error(
                    "rpc failed",
                    extra={
                        "action": "rpc_failed",
                        "method": method,
                        "error_type": type(error).__name__,
                        "where": where,
                        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
                await error_mapping.abort(context, code, status)

        return guarded
