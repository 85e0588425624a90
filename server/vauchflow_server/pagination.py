"""Keyset pagination: page tokens are opaque to clients and encode the last row's (create_time, id)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID

from vauchflow_core.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

T = TypeVar("T")
Cursor = tuple[datetime, UUID]


@dataclass(frozen=True)
class PageRequest:
    size: int
    after: Cursor | None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


def page_request(page_size: int, page_token: str) -> PageRequest:
    if page_size < 0:
        raise InvalidArgument.single("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return PageRequest(size, _decode(page_token) if page_token else None)


def make_page(rows: Sequence[T], request: PageRequest, cursor_of: Callable[[T], Cursor]) -> Page[T]:
    """rows were fetched with LIMIT size + 1: the extra row only tells whether another page exists."""
    items = list(rows[: request.size])
    token = _encode(cursor_of(items[-1])) if len(rows) > request.size else ""
    return Page(items, token)


def _encode(cursor: Cursor) -> str:
    raw = json.dumps([cursor[0].isoformat(), str(cursor[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        when, ident = json.loads(raw)
        after = datetime.fromisoformat(when)
        # A forged token can name an instant PostgreSQL cannot take (year 10000 in UTC, say): refuse it here.
        after.astimezone(UTC)
        return after, UUID(ident)
    except (ValueError, TypeError, OverflowError):
        raise InvalidArgument.single("page_token", "is not a token returned by a previous page") from None
