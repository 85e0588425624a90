"""Keyset pagination: opaque tokens that round-trip, garbage refused as INVALID_ARGUMENT, sizes clamped."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from vauchflow_core.errors import InvalidArgument
from vauchflow_server.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest, make_page, page_request

T0 = datetime(2026, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)


def rows(n: int) -> list[tuple[datetime, uuid.UUID]]:
    return [(T0 + timedelta(seconds=i), uuid.uuid4()) for i in range(n)]


def cursor(row: tuple[datetime, uuid.UUID]) -> tuple[datetime, uuid.UUID]:
    return row


def test_a_token_round_trips_the_last_rows_cursor_exactly() -> None:
    fetched = rows(4)  # LIMIT size + 1
    page = make_page(fetched, PageRequest(3, None), cursor)
    assert page.items == fetched[:3]
    assert page.next_page_token
    follow_up = page_request(3, page.next_page_token)
    assert follow_up.after == fetched[2]
    assert follow_up.after[0].tzinfo is not None and follow_up.after[0].utcoffset() == timedelta(0)
    assert follow_up.size == 3


def test_the_last_page_has_no_token() -> None:
    fetched = rows(3)
    page = make_page(fetched, PageRequest(3, None), cursor)
    assert page.items == fetched and page.next_page_token == ""
    assert make_page([], PageRequest(3, None), cursor).next_page_token == ""


def test_tokens_are_url_safe() -> None:
    token = make_page(rows(2), PageRequest(1, None), cursor).next_page_token
    assert token and all(c.isalnum() or c in "-_" for c in token)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!!",
        "%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00"]').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "00000000-0000-0000-0000-000000000000"]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "not-a-uuid"]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b"42").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", null]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000", 3]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        # Parseable, but no instant PostgreSQL can take once in UTC.
        base64.urlsafe_b64encode(b'["9999-12-31T23:59:59-12:00", "00000000-0000-0000-0000-000000000000"]').decode(),
        base64.urlsafe_b64encode(b'["0001-01-01T00:00:00+14:00", "00000000-0000-0000-0000-000000000000"]').decode(),
    ],
)
def test_garbage_tokens_are_invalid_argument_on_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        page_request(10, token)
    assert [v.field for v in raised.value.violations] == ["page_token"]
    assert raised.value.reason == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("asked", "given"),
    [
        (0, DEFAULT_PAGE_SIZE),
        (1, 1),
        (MAX_PAGE_SIZE, MAX_PAGE_SIZE),
        (MAX_PAGE_SIZE + 1, MAX_PAGE_SIZE),
        (10**9, MAX_PAGE_SIZE),
    ],
)
def test_page_sizes_clamp(asked: int, given: int) -> None:
    request = page_request(asked, "")
    assert request.size == given and request.after is None


def test_a_negative_page_size_is_invalid() -> None:
    with pytest.raises(InvalidArgument) as raised:
        page_request(-1, "")
    assert [v.field for v in raised.value.violations] == ["page_size"]
