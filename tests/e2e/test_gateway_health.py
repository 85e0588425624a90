"""/actuator/health through the real Envoy: Spring Boot shape, 503 DOWN while PostgreSQL is down, UP again after it
returns, with the same server process throughout."""

from __future__ import annotations

from support.gateway import RestResponse, expect_json
from support.polling import wait_for

UP_BODY = {"status": "UP", "components": {"db": {"status": "UP"}, "redis": {"status": "UP"}}}


def test_health_liveness_and_readiness_are_up(gateway):
    rest = gateway.rest()  # no credentials needed

    assert expect_json(rest.get("/actuator/health")) == UP_BODY
    assert expect_json(rest.get("/actuator/health/liveness")) == {"status": "UP"}
    readiness = expect_json(rest.get("/actuator/health/readiness"))
    assert readiness == {"status": "UP", "components": {"db": {"status": "UP"}}}


def test_health_is_503_down_while_postgres_is_stopped_and_up_after_restart(gateway, api_server, postgres):
    rest = gateway.rest()
    server_pid = api_server.process.pid
    last: list[RestResponse] = []

    def health_is(status: int) -> bool:
        last[:] = [rest.get("/actuator/health")]
        return last[0].status == status

    assert expect_json(rest.get("/actuator/health")) == UP_BODY
    postgres.stop()
    try:
        wait_for(lambda: health_is(503), what="health 503 with PostgreSQL stopped", timeout=30, interval=0.2)
        assert expect_json(last[0], 503) == {
            "status": "DOWN",
            "components": {"db": {"status": "DOWN"}, "redis": {"status": "UP"}},
        }
        readiness = expect_json(rest.get("/actuator/health/readiness"), 503)
        assert readiness == {"status": "DOWN", "components": {"db": {"status": "DOWN"}}}
        # Alive, just not ready: restarting the process would not help.
        assert expect_json(rest.get("/actuator/health/liveness")) == {"status": "UP"}
    finally:
        postgres.start()

    wait_for(lambda: health_is(200), what="health 200 after PostgreSQL restarted", timeout=30, interval=0.2)
    assert expect_json(last[0]) == UP_BODY
    assert expect_json(rest.get("/actuator/health/readiness"))["status"] == "UP"
    assert api_server.process.poll() is None and api_server.process.pid == server_pid
