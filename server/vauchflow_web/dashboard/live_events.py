"""The live events feed: the tenant's event stream from the API, relayed to the browser as server-sent events.

One browser tab holds one API stream while it is open, and the stream ends when the tab goes (Starlette cancels
the response on disconnect, which closes the gRPC call and frees the tenant's stream slot). When the plan's open
streams are all taken (FREE allows 2), the page is told so instead of retrying against the cap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

import vauchflow
from vauchflow_web.dashboard.page_guard import Caller
from vauchflow_web.dashboard.rendering import event_data, format_time

log = logging.getLogger(__name__)

# Browsers reconnect after this many milliseconds when the connection drops.
RECONNECT_MS = 3000


def event_summary(event: Any) -> dict[str, str]:
    """What a row of the feed shows; the browser sets it as text, never as HTML."""
    return {
        "id": event.id,
        "type": event.type,
        "time": format_time(event.create_time),
        "cursor": event.cursor,
        "data": event_data(event.data if event.HasField("data") else None),
    }


def _message(kind: str, payload: dict[str, str], event_id: str = "") -> bytes:
    lines = [f"event: {kind}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(payload))
    return ("\n".join(lines) + "\n\n").encode()


async def stream_events(request: Request, caller: Caller) -> Response:
    assert caller.client is not None
    # EventSource resends the last cursor it saw as Last-Event-ID; the page's first cursor comes in the query.
    after = request.headers.get("last-event-id") or request.query_params.get("after", "")
    stream = caller.client.events.stream(after=after[:200], max_reconnects=0)

    async def relay() -> AsyncIterator[bytes]:
        yield f"retry: {RECONNECT_MS}\n\n".encode()
        try:
            async for event in stream:
                yield _message("event", event_summary(event), event.cursor)
        except vauchflow.RateLimitedError:
            yield _message("full", {"text": "Your plan's open live streams are all in use. Close another tab."})
        except vauchflow.QuotaExceededError:
            yield _message("full", {"text": "Your plan's open live streams are all in use. Close another tab."})
        except vauchflow.VauchflowError as error:
            log.info("live stream ended", extra={"action": "dashboard_stream_ended", "reason": error.reason})
            yield _message("ended", {"text": "The live stream stopped. Reload the page to resume."})
        finally:
            stream.close()

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(relay(), media_type="text/event-stream", headers=headers)
