"""The web service as a process: health for Envoy, JSON errors with a request id, metrics, and a clean SIGTERM."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.polling import wait_for
from support.web_service import WebService, start_web_service


@pytest.fixture
def web(tmp_path: Path) -> WebService:
    service = start_web_service(api_target="127.0.0.1:1", log_path=tmp_path / "web.log")
    yield service
    if service.process.poll() is None:
        service.stop(signal.SIGKILL)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_health_answers_for_envoy_without_the_api(web: WebService) -> None:
    status, headers, body = get(f"{web.url}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "UP"})
    assert len(headers["x-request-id"]) == 32


def test_an_unknown_path_is_a_json_error_with_the_callers_request_id(web: WebService) -> None:
    status, headers, body = get(f"{web.url}/v1/no-such-thing", {"x-request-id": "support-ticket-42"})
    assert status == 404
    error = json.loads(body)
    assert error["details"][0]["reason"] == "NOT_FOUND"
    assert headers["x-request-id"] == "support-ticket-42"
    # An insane id is replaced, never echoed.
    _, headers, _ = get(f"{web.url}/healthz", {"x-request-id": "x" * 500})
    assert headers["x-request-id"] != "x" * 500 and len(headers["x-request-id"]) == 32


def test_metrics_count_requests_by_route_template(web: WebService) -> None:
    get(f"{web.url}/healthz")
    get(f"{web.url}/some/path/nobody/has")
    with urllib.request.urlopen(f"http://127.0.0.1:{web.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'vauchflow_web_requests_total{method="GET",route="/healthz",status="200"}' in text
    # The path a caller typed is never a label value.
    assert 'route="unmatched",status="404"' in text and "nobody" not in text


def test_sigterm_exits_0(web: WebService) -> None:
    assert web.stop(signal.SIGTERM) == 0
    assert '"service_stopped"' in web.log_path.read_text()


def test_sigterm_reports_draining_while_it_still_serves_then_exits_0(tmp_path: Path) -> None:
    service = start_web_service(
        api_target="127.0.0.1:1",
        log_path=tmp_path / "web.log",
        extra_env={"VAUCHFLOW_SHUTDOWN_DRAIN_DELAY_SECONDS": "3"},
    )
    try:
        service.process.send_signal(signal.SIGTERM)
        wait_for(lambda: get(f"{service.url}/healthz")[0] == 503, what="draining", timeout=10)
        assert json.loads(get(f"{service.url}/healthz")[2]) == {"status": "DRAINING"}
        assert service.process.wait(timeout=30) == 0
    finally:
        if service.process.poll() is None:
            service.stop(signal.SIGKILL)
