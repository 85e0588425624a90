"""examples/webhook_receiver.py against the real API server and delivery service: a test event reaches it signed
and verifies; a forged request is refused with 400."""

from __future__ import annotations

import http.client
import secrets
import subprocess
import sys
from pathlib import Path

import vauchflow
from support.delivery_service import DeliveryDatabase
from support.polling import wait_for
from support.ports import free_port
from support.services import MigratedDatabase, start_api_server
from vauchflow_devstack import stop_child

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "webhook_receiver.py"


def test_the_receiver_example_verifies_real_deliveries(
    delivery_db: DeliveryDatabase, key_ring, redis_server, delivery_services, tmp_path: Path
) -> None:
    admin_token = "vf_op_" + secrets.token_urlsafe(24)
    server = start_api_server(
        database=MigratedDatabase(delivery_db.name, delivery_db.owner_dsn, delivery_db.app_dsn),
        redis_url=redis_server.url,
        admin_token=admin_token,
        port=free_port(),
        log_path=tmp_path / "api.log",
        webhook_keys=key_ring.to_text(),
    )
    receiver: subprocess.Popen[bytes] | None = None
    output = tmp_path / "receiver.out"
    try:
        delivery_services()
        with vauchflow.OperatorClient(admin_token, target=server.target) as operator:
            secret = operator.tenants.create("Hooked GmbH", plan="GROWTH").secret
        with vauchflow.Client(secret, target=server.target) as client:
            port = free_port()
            created = client.webhook_endpoints.create(f"http://127.0.0.1:{port}/hooks")
            with output.open("wb") as sink:
                receiver = subprocess.Popen(
                    [sys.executable, str(EXAMPLE), str(port)],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env={"VAUCHFLOW_WEBHOOK_SECRET": created.secret, "PATH": "/usr/bin:/bin"},
                )
            wait_for(lambda: "listening" in output.read_text(), what="receiver listening", timeout=30, process=receiver)
            event = client.webhook_endpoints.send_test_event(created.webhook_endpoint.id)
            wait_for(
                lambda: f"event: webhook.test {event.id}" in output.read_text(),
                what="the test event verified by the example",
                timeout=30,
                process=receiver,
                log_path=output,
            )

        forged = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        forged.request(
            "POST",
            "/hooks",
            body=b'{"type": "redemption.succeeded"}',
            headers={"webhook-id": "evt_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        )
        assert forged.getresponse().status == 400
        forged.close()
        assert "refused:" in output.read_text()
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(10)
        assert stop_child(server.process, name="api-server", timeout=30) == 0
