"""Request ids (`x-request-id`): which client-sent ids are kept, and the id of the request being handled now.

The gateway keeps a client's id when it looks like PATTERN and makes one otherwise (gateway/envoy.yaml.template
renders the same rule); the server checks again, because native gRPC clients may call it directly. The id goes
into every log record written while the request is handled and into the ErrorInfo metadata of every error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from contextvars import ContextVar

MAX_LENGTH = 128
# A letter or digit, then letters, digits and -_.: only: the id is copied into logs and error bodies, so nothing
# that could forge a log line or carry markup.
PATTERN = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_LENGTH - 1}}}$")
METADATA_KEY = "x-request-id"

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")


def is_acceptable(value: str) -> bool:
    return PATTERN.fullmatch(value) is not None


def from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    """The caller's request id when it is acceptable, otherwise a new one."""
    for key, value in metadata:
        if key == METADATA_KEY and isinstance(value, str) and is_acceptable(value):
            return value
    return str(uuid.uuid4())
