"""Real HTTP receivers on loopback for webhook tests: they answer as told, record every request and count every
TCP connection they accept (a canary that must see 0 connections is a receiver nobody should reach)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on host:port in a thread. reply decides each answer; gate, when set, holds every request
    until it is opened (for timeouts and concurrency limits)."""

    host: str = "127.0.0.1"
    port: int = 0
    reply: Callable[[ReceivedRequest], Reply] = lambda _request: Reply()
    ssl_context: ssl.SSLContext | None = None
    gate: threading.Event | None = None
    requests: list[ReceivedRequest] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in receiver.host else socket.AF_INET
            daemon_threads = True
            block_on_close = False

            def verify_request(self, request, client_address) -> bool:  # type: ignore[no-untyped-def]
                with receiver._lock:
                    receiver.connections += 1
                return True

        self._server = Server((self.host, self.port), _handler(self))
        self.port = self._server.server_address[1]
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = ReceivedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                      self.rfile.read(length))  # fmt: skip
            with receiver._lock:
                receiver.requests.append(request)
                receiver.in_flight += 1
                receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
            try:
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                reply = receiver.reply(request)
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to answer
            finally:
                with receiver._lock:
                    receiver.in_flight -= 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


async def eventually(condition: Callable[[], bool], *, what: str, timeout: float = 10.0) -> None:
    """Polls condition without blocking the event loop (the code under test runs on it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true within {timeout:.0f}s")
        await asyncio.sleep(0.02)
