"""Fixtures of the web service tests that need the real API behind it: the web service pointed at the session's
Envoy (which load-balances the API), started once per module."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from support.gateway import Gateway
from support.web_service import WebService, start_web_service

# The test processes listen on free ports, so the allowed Host and Origin lists name loopback with any port.
LOOPBACK_ANY_PORT = {
    "VAUCHFLOW_WEB_ALLOWED_HOSTS": "127.0.0.1:*,localhost:*",
    "VAUCHFLOW_WEB_ALLOWED_ORIGINS": "http://127.0.0.1:*,http://localhost:*",
}


@pytest.fixture(scope="module")
def web_with_api(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebService]:
    service = start_web_service(
        api_target=gateway.grpc_target,
        log_path=tmp_path_factory.mktemp("web") / "web.log",
        extra_env=LOOPBACK_ANY_PORT,
    )
    try:
        yield service
    finally:
        assert service.stop(signal.SIGTERM) == 0, f"web service did not stop cleanly; see {service.log_path}"
