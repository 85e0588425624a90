"""The tests' port picker never hands out one port twice, even when the kernel offers it again at once."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from support import ports


class _Probe:
    """A socket whose bind(0) gets the next of the ports the fake kernel offers."""

    offered: Any = None

    def __init__(self, *args: Any) -> None:
        self._port = 0

    def __enter__(self) -> _Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self._port = next(_Probe.offered)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)


def test_a_port_the_kernel_offers_again_is_not_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_handed_out", set())
    monkeypatch.setattr(ports.socket, "socket", _Probe)
    _Probe.offered = itertools.chain([40001, 40001, 40001, 40002], itertools.count(40003))
    assert [ports.free_port(), ports.free_port(), ports.free_port()] == [40001, 40002, 40003]
