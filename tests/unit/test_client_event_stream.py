"""When client.events.stream() reconnects: after a dropped connection or a server that ended the stream, from the
last cursor, a bounded number of times in a row without progress; never after a refusal."""

from __future__ import annotations

import grpc
import pytest

from vauchflow import _errors
from vauchflow._event_stream import _Resumption
from vauchflow.v1 import webhook_pb2


def _error(code: grpc.StatusCode) -> _errors.VauchflowError:
    return _errors.VauchflowError("m", grpc_code=code)


def test_drops_are_resumed_from_the_last_cursor_and_progress_resets_the_budget() -> None:
    resumption = _Resumption("c0", max_reconnects=2)
    assert resumption.check(_error(grpc.StatusCode.UNAVAILABLE)) == 0
    assert resumption.check(None) == 1  # the server ended the stream (it is shutting down)
    resumption.received(webhook_pb2.Event(id="evt_1", cursor="c1"))
    assert resumption.cursor == "c1"
    assert resumption.check(_error(grpc.StatusCode.UNAVAILABLE)) == 0


def test_it_gives_up_after_max_reconnects_without_an_event() -> None:
    resumption = _Resumption("", max_reconnects=1)
    resumption.check(_error(grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(_errors.VauchflowError) as raised:
        resumption.check(_error(grpc.StatusCode.UNAVAILABLE))
    assert raised.value.grpc_code is grpc.StatusCode.UNAVAILABLE


def test_a_quiet_stream_that_stayed_open_never_uses_up_its_reconnects() -> None:
    """The gateway ends an idle stream every few minutes: each such end, after a healthy stretch without events,
    starts the count afresh; only failures in quick succession use up the budget."""
    now = [0.0]
    resumption = _Resumption("c", max_reconnects=2, clock=lambda: now[0])
    for _ in range(50):  # hours of quiet streams, each ended by the idle limit
        resumption.opened()
        now[0] += 300
        assert resumption.check(_error(grpc.StatusCode.UNAVAILABLE)) == 0
    # Then the service is down and streams fail at once: the reconnect after the last quiet stream was the first
    # of the budget of two, this is the second, and the next failure gives up.
    resumption.opened()
    now[0] += 0.1
    assert resumption.check(_error(grpc.StatusCode.UNAVAILABLE)) == 1
    resumption.opened()
    now[0] += 0.1
    with pytest.raises(_errors.VauchflowError):
        resumption.check(_error(grpc.StatusCode.UNAVAILABLE))


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT]
)
def test_a_refusal_ends_the_stream(code: grpc.StatusCode) -> None:
    error = _error(code)
    with pytest.raises(_errors.VauchflowError) as raised:
        _Resumption("c", max_reconnects=10).check(error)
    assert raised.value is error
