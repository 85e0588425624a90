"""Fixtures of the web service tests that need the real API behind it: the web service pointed at the session's
Envoy (which load-balances the API), started once per module."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from support.gateway import Gateway
from support.web_service import WebService, start_web_service


@pytest.fixture(scope="module")
def web_with_api(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebService]:
    service = start_web_service(
        api_target=gateway.grpc_target,
        log_path=tmp_path_factory.mktemp("web") / "web.log",
    )
    try:
        yield service
    finally:
        assert service.stop(signal.SIGTERM) == 0, f"web service did not stop cleanly; see {service.log_path}"
