"""The README's first command, `make run`, brings up a working stack and takes all of it down again.

Ports and the data folder are overridden so the test never touches a developer's running stack or .data/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import grpc

from support.grpc_health import is_serving
from support.polling import wait_for
from support.ports import free_port, port_is_free
from support.process_tree import descendants_and_self
from vauchflow.v1 import (
    redemption_pb2,
    redemption_service_pb2,
    redemption_service_pb2_grpc,
    tenant_pb2,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
    voucher_pb2,
    voucher_service_pb2,
    voucher_service_pb2_grpc,
)

REPO = Path(__file__).resolve().parents[2]
RUN_COMMAND = ["make", "run"]
# On a fresh checkout `make run` first installs the locked dependencies (`make setup`): minutes, many more on a
# loaded machine. The test waits for that step to finish (its marker files appear) while make is alive, then gives
# the stack itself STARTUP_TIMEOUT; a failed install ends make, which ends the wait at once.
SETUP_MARKERS = (REPO / ".venv" / ".installed", REPO / "node_modules" / ".installed")
SETUP_TIMEOUT = 1800
STARTUP_TIMEOUT = 300


def _redeem_once(target: str, operator_token: str) -> redemption_pb2.Redemption:
    with grpc.insecure_channel(target) as channel:
        created = tenant_service_pb2_grpc.TenantServiceStub(channel).CreateTenant(
            tenant_service_pb2.CreateTenantRequest(name="e2e merchant", plan=tenant_pb2.PLAN_FREE),
            metadata=[("authorization", f"Bearer {operator_token}")],
            timeout=10,
        )
        tenant_key = [("authorization", f"Bearer {created.secret}")]
        code = f"E2E-{uuid.uuid4().hex[:8].upper()}"
        voucher_service_pb2_grpc.VoucherServiceStub(channel).CreateVoucher(
            voucher_service_pb2.CreateVoucherRequest(
                voucher=voucher_pb2.Voucher(
                    code=code, discount=voucher_pb2.Discount(percent_off=10), currency="EUR", max_redemptions=1
                ),
                request_id=str(uuid.uuid4()),
            ),
            metadata=tenant_key,
            timeout=10,
        )
        redeemed = redemption_service_pb2_grpc.RedemptionServiceStub(channel).RedeemVoucher(
            redemption_service_pb2.RedeemVoucherRequest(
                code=code,
                customer_id="customer-1",
                order=redemption_pb2.Order(id="order-1", amount=10_000, currency="EUR"),
                request_id=str(uuid.uuid4()),
            ),
            metadata=tenant_key,
            timeout=10,
        )
    assert redeemed.redemption.voucher_code == code
    assert redeemed.redemption.status == redemption_pb2.REDEMPTION_STATUS_SUCCEEDED
    assert redeemed.redemption.discount_amount == 1_000
    assert redeemed.voucher.redemption_count == 1
    return redeemed.redemption


def _last_backup(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    found = re.search(r"^vauchflow_backup_last_success_timestamp_seconds (\S+)$", text, re.MULTILINE)
    assert found, text
    return float(found[1])


def test_make_run_serves_a_redemption_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port_variables = ("VAUCHFLOW_PG_PORT", "VAUCHFLOW_REDIS_PORT", "VAUCHFLOW_GRPC_PORT", "VAUCHFLOW_PUBLIC_PORT",
                      "VAUCHFLOW_ENVOY_ADMIN_PORT", "VAUCHFLOW_DELIVERY_GRPC_PORT",
                      "VAUCHFLOW_DELIVERY_METRICS_PORT", "VAUCHFLOW_METRICS_PORT", "VAUCHFLOW_WEB_PORT",
                      "VAUCHFLOW_WEB_METRICS_PORT", "VAUCHFLOW_PROBER_METRICS_PORT",
                      "VAUCHFLOW_BACKUP_METRICS_PORT")  # fmt: skip
    ports = {name: free_port() for name in port_variables}
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("VAUCHFLOW_ADMIN_TOKEN", None)
    env.update({name: str(port) for name, port in ports.items()}, VAUCHFLOW_DATA_DIR=str(data_dir))
    output_path = tmp_path / "make-run.log"
    target = f"127.0.0.1:{ports['VAUCHFLOW_GRPC_PORT']}"

    started = time.monotonic()
    with output_path.open("wb") as output:
        make = subprocess.Popen(
            RUN_COMMAND, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: all(marker.exists() for marker in SETUP_MARKERS), what="`make run` installing (make setup)",
                 timeout=SETUP_TIMEOUT, process=make, log_path=output_path, interval=0.5)  # fmt: skip
        setup_seconds = time.monotonic() - started
        wait_for(lambda: is_serving(target), what=f"`make run` serving on {target}", timeout=STARTUP_TIMEOUT,
                 process=make, log_path=output_path, interval=0.2)  # fmt: skip
        startup_seconds = time.monotonic() - started - setup_seconds
        # The API answers before the rest of the stack (delivery, web, Envoy, prober, backup job) is up, which
        # takes a while longer on a loaded machine; the summary comes when all of it is.
        wait_for(lambda: "started in" in output_path.read_text(), what="start-up summary", timeout=STARTUP_TIMEOUT,
                 process=make, log_path=output_path)  # fmt: skip
        output = output_path.read_text()
        reported = re.search(r"started in\s+([\d.]+)s", output)
        print(f"`make run` served {startup_seconds:.2f}s after setup ({setup_seconds:.0f}s; dev stack reported "
              f"{reported and reported[1]}s)")  # fmt: skip

        # The summary says where the operator token is; follow it the way a developer would.
        token_file = re.search(r"operator token\s+cat (\S+)", output)
        assert token_file, output
        redemption = _redeem_once(target, Path(token_file[1]).read_text().strip())
        assert redemption.id
        # Envoy serves the public port: health over REST, and the same API over gRPC.
        health_url = f"http://127.0.0.1:{ports['VAUCHFLOW_PUBLIC_PORT']}/actuator/health"
        with urllib.request.urlopen(health_url, timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read())["status"] == "UP"
        assert is_serving(f"127.0.0.1:{ports['VAUCHFLOW_PUBLIC_PORT']}")

        started_processes = descendants_and_self(make.pid)
        names = " ".join(process.command for process in started_processes)
        assert "postgres" in names and "redis-server" in names and "vauchflow_server" in names, names
        assert "envoy" in names and "vauchflow_delivery" in names, names
        assert "vauchflow_prober" in names, names  # the status page's synthetic checks run with the stack
        assert is_serving(f"127.0.0.1:{ports['VAUCHFLOW_DELIVERY_GRPC_PORT']}")
        # The backup job: a start-up base backup (the repository was empty), counted in its metrics, and
        # `make backup` from another process counts too (both read the repository's catalog).
        assert "vauchflow_backup" in names, names
        backup_metrics = f"http://127.0.0.1:{ports['VAUCHFLOW_BACKUP_METRICS_PORT']}/metrics"
        assert backup_metrics in output
        wait_for(lambda: _last_backup(backup_metrics) > 0, what="the start-up base backup", timeout=120,
                 process=make, log_path=output_path)  # fmt: skip
        first = _last_backup(backup_metrics)
        make_backup = subprocess.run(["make", "backup"], cwd=REPO, env=env, capture_output=True, text=True,
                                     timeout=180, check=False)  # fmt: skip
        assert make_backup.returncode == 0 and "verified" in make_backup.stdout, make_backup.stdout + make_backup.stderr
        assert _last_backup(backup_metrics) > first
        # make itself turns a SIGTERM into death by signal after its child exits, so the signal goes to the dev
        # stack (the pid it records in its data folder), as a process manager would stop it.
        devstack_pid = int((data_dir / "devstack.pid").read_text())
        assert devstack_pid in {process.pid for process in started_processes}
        os.kill(devstack_pid, signal.SIGTERM)
        returncode = make.wait(timeout=60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()

    assert returncode == 0, output_path.read_text()[-4000:]
    survivors = [process for process in started_processes if process.is_alive()]
    assert not survivors, f"still running after shutdown: {survivors}"
    taken = [port for port in ports.values() if not port_is_free(port)]
    assert not taken, f"ports still in use after shutdown: {taken}"
