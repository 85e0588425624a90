"""The server interceptor every RPC passes through: authorise, rate-limit, set the principal, map errors.

Handlers are wrapped (rather than authorising inside intercept_service) so the principal contextvar is set in
the same task that runs the handler, and so every error of every RPC goes through error_mapping. Server-streaming
handlers (the event stream, health Watch) are wrapped the same way; the error mapping then also covers an error
raised after some responses were sent. Client-streaming handlers (the CSV import) are authorised like unary ones
and check each message as it arrives; bidirectional handlers (only reflection, which is public) pass through.

Requests made with a tenant API key are then counted against the tenant's request rate (rate_limiter.py; the limit
comes with the principal, from the cached key lookup): over it, RESOURCE_EXHAUSTED / RATE_LIMITED with the delay.
Operator and public RPCs are not rate-limited.

Each RPC runs with its request id (request_ids.py: the gateway's `x-request-id`, or a new one) set for the log
records written while it runs and for the ErrorInfo of its error, if any. Streams log when they open and end, so
a long-lived one can be found by its id.

A write RPC that succeeds answers with its commit position in its initial metadata (a response header through
Envoy), and a request carrying one reads at or after it (vauchflow_core.commit_positions; db/read_replica.py).

Two kinds of bad input are refused here, for every RPC, because no use case could: bytes that do not parse as
the request message (grpc would otherwise answer UNKNOWN with the parser's exception text), and NUL characters
in strings, which PostgreSQL text and jsonb cannot store (the INSERT would fail as an INTERNAL error).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, cast

import grpc
from google.protobuf.message import Message

from vauchflow_core import commit_positions
from vauchflow_core.errors import DomainError, FieldViolation, InvalidArgument, RateLimited, Unauthenticated
from vauchflow_core.rpc import error_mapping, request_ids
from vauchflow_core.rpc.auth import Authenticator
from vauchflow_core.rpc.auth_failures import AuthFailureLimiter
from vauchflow_core.rpc.client_address import LOOPBACK, IPNetwork, client_address
from vauchflow_core.rpc.metrics import RpcMetrics, method_name
from vauchflow_core.rpc.rate_limiter import RateLimiter
from vauchflow_core.tenancy import Principal, current_principal

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]
UnaryHandler = Callable[[Any, Context], Awaitable[Any]]
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]

# What the tolerant deserializer hands the handler when the request bytes do not parse.
_UNREADABLE = object()


class RequestBoundary(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        authenticator: Authenticator,
        metrics: RpcMetrics | None = None,
        rate_limiter: RateLimiter | None = None,
        auth_failures: AuthFailureLimiter | None = None,
        trusted_proxies: tuple[IPNetwork, ...] = LOOPBACK,
        commit_position: Callable[[], Awaitable[int | None]] | None = None,
    ):
        self._authenticator = authenticator
        self._commit_position = commit_position
        self._metrics = metrics or RpcMetrics()
        self._rate_limiter = rate_limiter
        self._auth_failures = auth_failures or AuthFailureLimiter(None)
        self._trusted_proxies = trusted_proxies

    async def _authorize(self, method: str, context: Context) -> Principal:
        """Who is calling: refused at once from an address with too many failed attempts, and every failure
        counted against its address."""
        metadata = context.invocation_metadata() or ()
        address = client_address(context.peer(), metadata, self._trusted_proxies)
        await self._auth_failures.check(address)
        try:
            return await self._authenticator.authorize(method, metadata)
        except Unauthenticated:
            await self._auth_failures.record(address)
            raise

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                # grpc's stubs type the aio handler as the sync one; under grpc.aio it is a coroutine function.
                self._wrap(handler_call_details.method, cast(UnaryHandler, handler.unary_unary)),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler_call_details.method, handler.unary_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            # Client-streaming (the CSV import): authorised like a unary call, each message checked as it arrives.
            return grpc.stream_unary_rpc_method_handler(
                self._wrap(handler_call_details.method, _checked_messages(cast(UnaryHandler, handler.stream_unary))),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        # Bidirectional methods: only reflection, which is public.
        return handler

    async def _admit(self, principal: Principal) -> None:
        """Raises RateLimited when the principal's tenant has no request left for now (all its keys share it)."""
        limit = principal.rate_limit
        if self._rate_limiter is None or principal.tenant_id is None or limit is None:
            return
        decision = await self._rate_limiter.check(principal.tenant_id, limit)
        if not decision.allowed:
            plan = principal.plan or "UNKNOWN"
            self._metrics.rate_limited.labels(plan).inc()
            raise RateLimited(decision.retry_after, plan, limit.requests_per_second, limit.burst)

    def _wrap(self, method: str, behaviour: UnaryHandler) -> UnaryHandler:
        authorize = self._authorize
        admit = self._admit
        requests = self._metrics.rpc_requests
        duration = self._metrics.rpc_duration
        # A write answers with its commit position, so its caller's next read never sees an older state.
        commit_position = None if commit_positions.is_read_only(method) else self._commit_position

        async def guarded(request: Any, context: Context) -> Any:
            started = time.perf_counter()
            code = "OK"
            metadata = context.invocation_metadata() or ()
            request_id_token = request_ids.current_request_id.set(request_ids.from_metadata(metadata))
            position_token = commit_positions.required_position.set(None)
            try:
                principal = await authorize(method, context)
                await admit(principal)
                _check_request(request)
                commit_positions.required_position.set(_required_position(metadata))
                token = current_principal.set(principal)
                try:
                    response = await behaviour(request, context)
                finally:
                    current_principal.reset(token)
                if commit_position is not None:
                    await _send_commit_position(context, commit_position)
                return response
            except grpc.aio.AbortError:
                code = "ABORTED_BY_HANDLER"
                raise
            except Exception as error:
                code = _code_name(error)
                await _refuse(context, method, error, started)
            finally:
                requests.labels(method_name(method), code).inc()
                duration.labels(method_name(method), code).observe(time.perf_counter() - started)
                commit_positions.required_position.reset(position_token)
                request_ids.current_request_id.reset(request_id_token)

        return guarded

    def _wrap_stream(self, method: str, behaviour: Callable[..., Any]) -> StreamHandler:
        authorize = self._authorize
        admit = self._admit

        async def guarded_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            started = time.perf_counter()
            # Set, not reset: like the principal below, it lives in the task that iterates this stream.
            metadata = context.invocation_metadata() or ()
            request_ids.current_request_id.set(request_ids.from_metadata(metadata))
            opened = False
            try:
                principal = await authorize(method, context)
                await admit(principal)
                _check_request(request)
                # An export reads its pages at or after the caller's own last write (read-your-writes).
                commit_positions.required_position.set(_required_position(metadata))
                # grpc.aio runs each RPC in its own task, and an async generator runs in the task iterating it,
                # so the principal stays set for every step of the stream.
                current_principal.set(principal)
                log.info("stream opened", extra={"action": "stream_opened", "method": method})
                opened = True
                if inspect.isasyncgenfunction(behaviour):
                    async for response in behaviour(request, context):
                        yield response
                else:
                    # A handler that writes with context.write() and returns.
                    await behaviour(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                await _refuse(context, method, error, started)
            finally:
                if opened:
                    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                    log.info(
                        "stream ended", extra={"action": "stream_ended", "method": method, "elapsed_ms": elapsed_ms}
                    )

        return guarded_stream


def _code_name(error: Exception) -> str:
    if isinstance(error, DomainError):
        return error_mapping.status_code_of(error).name
    return grpc.StatusCode.INTERNAL.name


async def _refuse(context: Context, method: str, error: Exception, started: float) -> None:
    """Ends the RPC with the status error_mapping gives the error (raises grpc.aio.AbortError)."""
    request_id = request_ids.current_request_id.get()
    if isinstance(error, DomainError):
        code, status = error_mapping.to_rpc_status(error, request_id)
        log.info(
            "rpc refused",
            extra={"action": "rpc_refused", "method": method, "reason": error.reason, "code": code.name},
        )
        await error_mapping.abort(context, code, status)
        return
    code, status = error_mapping.internal_status(request_id)
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


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:
            return _UNREADABLE

    return deserialize


async def _send_commit_position(context: Context, commit_position: Callable[[], Awaitable[int | None]]) -> None:
    """After a write succeeded. Not knowing the position must not turn that success into an error: the answer then
    goes without one (the caller's next read may see the replica's older state)."""
    try:
        position = await commit_position()
    except Exception as error:
        log.warning("commit position unknown", extra={"action": "commit_position_failed",
                                                      "error_type": type(error).__name__})  # fmt: skip
        return
    if position is not None:
        await context.send_initial_metadata(((commit_positions.COMMIT_POSITION_HEADER, str(position)),))


def _required_position(metadata: Any) -> int | None:
    """The commit position the caller carries back (commit_positions.py), if any."""
    for key, value in metadata:
        if key == commit_positions.COMMIT_POSITION_HEADER:
            try:
                return commit_positions.parse_position(str(value))
            except ValueError as error:
                raise InvalidArgument.single(commit_positions.COMMIT_POSITION_HEADER, str(error)) from None
    return None


def _checked_messages(behaviour: UnaryHandler) -> UnaryHandler:
    """A client-streaming handler whose request iterator checks each message as _check_request checks one."""

    async def handle(requests: AsyncIterator[Any], context: Context) -> Any:
        async def checked() -> AsyncIterator[Any]:
            async for request in requests:
                _check_request(request)
                yield request

        return await behaviour(checked(), context)

    return handle


def _check_request(request: object) -> None:
    if isinstance(request, AsyncIterator):
        return  # a client stream: its messages are checked as they arrive (_checked_messages)
    if request is _UNREADABLE:
        raise InvalidArgument.single("request", "is not a valid serialized request message")
    if isinstance(request, Message):
        violations = list(_nul_violations(request, ""))
        if violations:
            raise InvalidArgument(violations)


def _nul_violations(message: Message, prefix: str) -> Iterator[FieldViolation]:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == field.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if "\0" in key:
                        yield FieldViolation(path, "keys must not contain NUL characters")
                    elif isinstance(item, str) and "\0" in item:
                        yield FieldViolation(_entry_path(path, key), "must not contain NUL characters")
                    elif isinstance(item, Message):
                        yield from _nul_violations(item, f"{_entry_path(path, key)}.")
            elif field.is_repeated:
                for index, item in enumerate(value):
                    yield from _nul_violations(item, f"{path}[{index}].")
            else:
                yield from _nul_violations(value, f"{path}.")
        elif field.type == field.TYPE_STRING:
            items = value if field.is_repeated else (value,)
            if any("\0" in item for item in items):
                yield FieldViolation(path, "must not contain NUL characters")


def _entry_path(path: str, key: str) -> str:
    """A map entry's path names its key only when the key is short and printable: a caller's key is unbounded
    input and is never echoed whole (a metadata key is at most 40 characters anyway)."""
    return f"{path}.{key}" if len(key) <= 40 and key.isprintable() else path
