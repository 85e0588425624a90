"""A real HTTP receiver on loopback for delivery tests: records every request and answers as the test scripts it.

It runs in its own threads (http.server), so tests that poll synchronously never stall it. It also counts, per
`webhook-id`, and per path (one path per endpoint), how many requests are in flight at once: two workers sending
the same attempt concurrently would show as 2.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic()

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


# (the request, how many requests with its webhook-id came before it) -> the reply
Responder = Callable[[ReceivedRequest, int], Reply]


def always(status: int, **headers: str) -> Responder:
    return lambda _request, _earlier: Reply(status, dict(headers))


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog of 5 would refuse connections under a few dozen concurrent senders.
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        # A sender that was killed or cut short mid-request is what some tests do on purpose.
        pass


ALWAYS_200 = always(200)


class WebhookReceiver:
    def __init__(self, responder: Responder = ALWAYS_200, *, hold_seconds: float = 0.0):
        self.responder = responder
        self.hold_seconds = hold_seconds
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._seen: Counter[str] = Counter()
        self._in_flight: Counter[tuple[str, str]] = Counter()
        self.max_concurrent_per_id = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length)
        request = ReceivedRequest(
            handler.path, {k.lower(): v for k, v in handler.headers.items()}, body, time.monotonic()
        )
        webhook_id = request.webhook_id
        sending = (request.path, webhook_id)
        with self._lock:
            earlier = self._seen[webhook_id]
            self._seen[webhook_id] += 1
            self._in_flight[sending] += 1
            self.max_concurrent_per_id = max(self.max_concurrent_per_id, self._in_flight[sending])
            self._requests.append(request)
        try:
            if self.hold_seconds:
                time.sleep(self.hold_seconds)
            reply = self.responder(request, earlier)
        finally:
            with self._lock:
                self._in_flight[sending] -= 1
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("content-length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, webhook_id: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.webhook_id == webhook_id]

    def webhook_ids(self) -> set[str]:
        with self._lock:
            return set(self._seen)

    def count(self) -> int:
        with self._lock:
            return len(self._requests)
