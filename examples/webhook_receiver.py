"""A webhook receiver: verifies each delivery (vauchflow.webhooks.verify) before acting on it, and answers 400 to
anything that does not verify, so Vauchflow retries a delivery only when the receiver failed.

    VAUCHFLOW_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py 8000

Several secrets may be given, comma-separated, while a secret rotation is under way.
"""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import vauchflow


def handle(body: bytes, headers: dict[str, str], secrets: list[str]) -> int:
    """The HTTP status to answer with."""
    try:
        event = vauchflow.webhooks.verify(body, headers, secrets)
    except vauchflow.WebhookVerificationError as refused:
        print("refused:", refused, flush=True)
        return 400
    print("event:", event.type, event.id, flush=True)
    return 204


def serve(port: int, secrets: list[str]) -> None:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(handle(body, dict(self.headers.items()), secrets))
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", port), Receiver) as server:
        print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8000, os.environ["VAUCHFLOW_WEBHOOK_SECRET"].split(","))
