"""Event cursors: opaque, round-trip, ordered like the stream, and forged ones are INVALID_ARGUMENT."""

from __future__ import annotations

import base64

import pytest

from vauchflow_core.errors import InvalidArgument
from vauchflow_core.event_cursor import EventPosition, decode, encode


@pytest.mark.parametrize("position", [EventPosition(0, 0), EventPosition(748, 3), EventPosition(2**62, 2**62)])
def test_round_trip(position: EventPosition) -> None:
    token = encode(position)
    assert "=" not in token and ":" not in token
    assert decode(token) == position


def test_positions_order_by_transaction_then_id() -> None:
    assert EventPosition(5, 100) < EventPosition(6, 1) < EventPosition(6, 2)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "abc",
        base64.urlsafe_b64encode(b"12").decode(),
        base64.urlsafe_b64encode(b"-1:2").decode(),
        base64.urlsafe_b64encode(b"1:x").decode(),
        base64.urlsafe_b64encode(f"{2**63}:1".encode()).decode(),
        base64.urlsafe_b64encode("１:2".encode()).decode(),
    ],
)
def test_forged_cursors_are_invalid_argument_naming_the_field(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode(token, "page_token")
    assert [v.field for v in raised.value.violations] == ["page_token"]
