"""Keyset pagination: page tokens are opaque to clients and encode the last row's (create_time, id).

A filtered or reordered list also puts a digest of its filters and order into the token: a token used with other
filters would silently skip or repeat rows, so it is refused instead.
"""

from __future__ import annotations

import base64
import hashlib
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
    scope: str = ""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


def page_request(page_size: int, page_token: str, scope: str = "") -> PageRequest:
    """`scope` names the filters and order of the list (empty for an unfiltered list in its default order)."""
    if page_size < 0:
        raise InvalidArgument.single("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return PageRequest(size, _decode(page_token, _digest(scope)) if page_token else None, _digest(scope))


def make_page(rows: Sequence[T], request: PageRequest, cursor_of: Callable[[T], Cursor]) -> Page[T]:
    """rows were fetched with LIMIT size + 1: the extra row only tells whether another page exists."""
    items = list(rows[: request.size])
    token = _encode(cursor_of(items[-1]), request.scope) if len(rows) > request.size else ""
    return Page(items, token)


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16] if scope else ""


def _encode(cursor: Cursor, scope: str) -> str:
    fields = [cursor[0].isoformat(), str(cursor[1])] + ([scope] if scope else [])
    raw = json.dumps(fields).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, scope: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        when, ident, *token_scope = json.loads(raw)
        after = datetime.fromisoformat(when)
        # A forged token can name an instant PostgreSQL cannot take (year 10000 in UTC, say): refuse it here.
        after.astimezone(UTC)
        cursor = after, UUID(ident)
    except (ValueError, TypeError, OverflowError):
        raise InvalidArgument.single("page_token", "is not a token returned by a previous page") from None
    if token_scope != ([scope] if scope else []):
        raise InvalidArgument.single(
            "page_token", "was returned for other filters or another order: repeat them, or start without a token"
        )
    return cursor
