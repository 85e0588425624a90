"""Dashboard sign-in throttling: failed sign-ins counted per client address in Redis, so every web replica refuses
an address past the limit (429, Retry-After, a clear message) without asking the API; failing open when Redis
does not answer. Two real web services on one real Redis, in front of the real API server."""

from __future__ import annotations

import http.client
import re
import signal
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from vauchflow_web.dashboard.sign_in import REFUSED
from vauchflow_web.dashboard.sign_in_throttle import failures_key

from support.api_client import ApiSession
from support.ports import free_port
from support.services import ApiServer
from support.web_service import WebService, start_web_service
from vauchflow_core import api_key_secrets
from vauchflow_core.rpc.auth_failures import failures_key as api_failures_key

LIMIT = 3
WINDOW_SECONDS = 600
# Well-formed (its checksum holds) but issued to no one: the API looks it up and refuses it.
WRONG_KEY = api_key_secrets.generate().secret


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str


def sign_in(web: WebService, secret: str, address: str) -> Answer:
    """The browser's flow: load the form (its CSRF cookie and token), post the secret. `address` is the browser's
    address as Envoy would record it in x-forwarded-for."""
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        connection.request("GET", "/sign-in", headers={"x-forwarded-for": address})
        form = connection.getresponse()
        page = form.read().decode()
        assert form.status == 200, page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        cookie = form.getheader("set-cookie", "").split(";", 1)[0]
        assert token and cookie.startswith("vf_sign_in=")
        body = urllib.parse.urlencode({"csrf_token": token[1], "secret": secret})
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "cookie": cookie,
            "x-forwarded-for": address,
        }
        connection.request("POST", "/sign-in", body=body, headers=headers)
        answer = connection.getresponse()
        return Answer(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode())
    finally:
        connection.close()


def new_address() -> str:
    """A documentation-range address of its own per test, so no other test's failures count against it."""
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"


def _start(api_server: ApiServer, redis_url: str, log_path: Path) -> WebService:
    return start_web_service(
        api_target=api_server.target,
        log_path=log_path,
        extra_env={
            "VAUCHFLOW_WEB_REDIS_URL": redis_url,
            "VAUCHFLOW_WEB_SIGN_IN_FAILURE_LIMIT": str(LIMIT),
            "VAUCHFLOW_WEB_SIGN_IN_FAILURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
        },
    )


@pytest.fixture(scope="module")
def replicas(api_server: ApiServer, redis_server, tmp_path_factory) -> Iterator[tuple[WebService, WebService]]:
    logs = tmp_path_factory.mktemp("sign_in_throttle")
    first = _start(api_server, redis_server.url, logs / "web-1.log")
    try:
        second = _start(api_server, redis_server.url, logs / "web-2.log")
        try:
            yield first, second
        finally:
            assert second.stop(signal.SIGTERM) == 0
    finally:
        assert first.stop(signal.SIGTERM) == 0


def test_failed_sign_ins_past_the_limit_are_refused_by_every_replica(
    replicas: tuple[WebService, WebService], api: ApiSession, redis_server
) -> None:
    first, second = replicas
    address, elsewhere = new_address(), new_address()
    while elsewhere == address:
        elsewhere = new_address()
    store = redis.Redis.from_url(redis_server.url)
    try:
        for attempt in range(LIMIT):
            # Spread over both replicas: they add to one count.
            answer = sign_in((first, second)[attempt % 2], WRONG_KEY, address)
            assert answer.status == 200 and REFUSED in answer.text
        assert int(store.get(failures_key(address)) or 0) == LIMIT
        # The API counted them too (the web service passes the browser's address on).
        api_failures = int(store.get(api_failures_key(address)) or 0)
        assert api_failures == LIMIT

        throttled = sign_in(second, WRONG_KEY, address)
        assert throttled.status == 429
        assert "Too many failed sign-ins from your network. Try again in 10 minutes." in throttled.text
        assert 1 <= int(throttled.headers["retry-after"]) <= WINDOW_SECONDS
        # Refused before the API was asked: the API counted no further failed authentication from the address.
        assert int(store.get(api_failures_key(address)) or 0) == api_failures
        # The address is throttled, whatever it sends: a good key waits too ...
        good = api.new_tenant("Throttle GmbH").secret
        assert sign_in(first, good, address).status == 429
        # ... while another address signs in with it at once.
        signed_in = sign_in(first, good, elsewhere)
        assert signed_in.status == 303 and signed_in.headers["location"] == "/"
        # The count has an expiry: the window ends and the address may try again.
        assert 0 < store.ttl(failures_key(address)) <= WINDOW_SECONDS
    finally:
        store.close()


def test_a_wrong_operator_token_counts_against_the_browsers_address_in_the_api(
    replicas: tuple[WebService, WebService], redis_server
) -> None:
    """The operator's sign-in passes the browser's address on like a key's: the API's own limit on failed
    authentications counts it against that address, not against the web service's."""
    first, _ = replicas
    address = new_address()
    store = redis.Redis.from_url(redis_server.url)
    try:
        answer = sign_in(first, "vf_op_" + uuid.uuid4().hex, address)
        assert answer.status == 200 and REFUSED in answer.text
        assert int(store.get(failures_key(address)) or 0) == 1
        assert int(store.get(api_failures_key(address)) or 0) == 1
    finally:
        store.close()


def test_sign_in_fails_open_when_redis_does_not_answer(api_server: ApiServer, tmp_path: Path) -> None:
    # Nothing listens on this port: every Redis call fails at once.
    web = _start(api_server, f"redis://127.0.0.1:{free_port()}/0", tmp_path / "web.log")
    try:
        address = new_address()
        for _ in range(LIMIT + 2):
            answer = sign_in(web, WRONG_KEY, address)
            # Neither throttled nor an error page: the key is checked and refused as usual.
            assert answer.status == 200 and REFUSED in answer.text
    finally:
        assert web.stop(signal.SIGTERM) == 0
    assert "dashboard_sign_in_throttle_fail_open" in web.log_path.read_text()
