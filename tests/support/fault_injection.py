"""Faults between a client and a real server, without mocks: a gRPC proxy that forwards calls and can answer
UNAVAILABLE after the server already applied one (the lost-response case retries must survive; it can also
terminate TLS), and a TCP proxy whose open connections a test can cut (a dropped stream)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from support.ports import free_port


def _identity(data: bytes) -> bytes:
    return data


class FlakyGrpcProxy:
    """A real gRPC server on a free port that forwards every unary call, bytes untouched, to upstream.

    fail_after_forwarding(method, times): the next `times` calls of method reach the server and are applied, then
    the client is told UNAVAILABLE, as if the response were lost on the way back. `requests[method]` holds the
    raw request bytes of every call seen, retries included."""

    def __init__(self, upstream: str, server_credentials: grpc.ServerCredentials | None = None) -> None:
        """server_credentials: serve TLS (the upstream hop stays plaintext)."""
        self._upstream = grpc.insecure_channel(upstream)
        self._lock = threading.Lock()
        self._fail_after: Counter[str] = Counter()
        self.requests: defaultdict[str, list[bytes]] = defaultdict(list)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._server.add_generic_rpc_handlers([_ForwardingHandler(self._forward)])
        self.port = free_port()
        if server_credentials is None:
            self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        else:
            self._server.add_secure_port(f"127.0.0.1:{self.port}", server_credentials)
        self._server.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail_after_forwarding(self, method: str, times: int = 1) -> None:
        with self._lock:
            self._fail_after[method] += times

    def _forward(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.requests[method].append(request)
        call = self._upstream.unary_unary(method, request_serializer=_identity, response_deserializer=_identity)
        metadata = [
            (key, value)
            for key, value in context.invocation_metadata()
            if not key.startswith(("grpc-", ":")) and key != "user-agent"
        ]
        try:
            response = call(request, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            context.set_trailing_metadata(error.trailing_metadata())  # type: ignore[attr-defined]
            context.abort(error.code(), error.details())  # type: ignore[attr-defined]
        with self._lock:
            lose_response = self._fail_after[method] > 0
            if lose_response:
                self._fail_after[method] -= 1
        if lose_response:
            context.abort(grpc.StatusCode.UNAVAILABLE, "proxy: response lost after the server applied the call")
        return response

    def close(self) -> None:
        self._server.stop(grace=None)
        self._upstream.close()

    def __enter__(self) -> FlakyGrpcProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ForwardingHandler(grpc.GenericRpcHandler):
    def __init__(self, forward: Callable[[str, bytes, grpc.ServicerContext], bytes]) -> None:
        self._forward = forward

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method  # type: ignore[attr-defined]

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            return self._forward(method, request, context)

        return grpc.unary_unary_rpc_method_handler(handle)


class TcpProxy:
    """Forwards every TCP connection on a free loopback port to upstream; drop_connections() cuts the open ones
    (new connections are still accepted), as a network failure would."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.connections = 0
        self._closed = False
        threading.Thread(target=self._accept, name="tcp-proxy-accept", daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
                self.connections += 1
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pipe, args=(source, sink), name="tcp-proxy-pipe", daemon=True).start()

    def drop_connections(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def close(self) -> None:
        self._listener.close()
        self.drop_connections()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _shut(sink)
        _shut(source)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
