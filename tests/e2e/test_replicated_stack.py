"""The dev stack with every service replicated on a Redis Cluster: `VAUCHFLOW_DEV_REDIS=cluster` and two API, two
webhook and two web replicas, each on its DESIGN.md port range, behind one Envoy that health-checks them all;
redemption, the flash-sale gate (on the cluster), webhooks and the web service work through it, and the stack
stops cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from redis.cluster import RedisCluster

from support.gateway import RestClient, expect_json, http_get, new_tenant_key, upstream_hosts
from support.polling import wait_for
from support.ports import free_port, free_redis_cluster_ports, port_is_free
from support.process_tree import descendants_and_self
from support.webhook_receiver import WebhookReceiver

REPO = Path(__file__).resolve().parents[2]
ORDER = {"amount": "10000", "currency": "EUR"}
# Each replica i listens on the setting's port + i.
REPLICATED_PORTS = ("VAUCHFLOW_GRPC_PORT", "VAUCHFLOW_METRICS_PORT", "VAUCHFLOW_DELIVERY_GRPC_PORT",
                    "VAUCHFLOW_DELIVERY_METRICS_PORT", "VAUCHFLOW_WEB_PORT", "VAUCHFLOW_WEB_METRICS_PORT")  # fmt: skip


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def consecutive_free_ports(count: int) -> int:
    return free_redis_cluster_ports(count, bus_offset=0)


def test_every_service_runs_replicated_behind_envoy_on_a_redis_cluster(tmp_path: Path) -> None:
    ports = {
        "VAUCHFLOW_PG_PORT": free_port(), "VAUCHFLOW_PUBLIC_PORT": free_port(),
        "VAUCHFLOW_ENVOY_ADMIN_PORT": free_port(), "VAUCHFLOW_PROBER_METRICS_PORT": free_port(),
        "VAUCHFLOW_REDIS_CLUSTER_PORT": free_redis_cluster_ports(6),
    }  # fmt: skip
    cluster_ports = set(range(ports["VAUCHFLOW_REDIS_CLUSTER_PORT"], ports["VAUCHFLOW_REDIS_CLUSTER_PORT"] + 6))
    while cluster_ports & set(range(block := consecutive_free_ports(2 * len(REPLICATED_PORTS)), block + 12)):
        pass  # the cluster's ports are not taken until it starts: pick a block beside them
    for index, variable in enumerate(REPLICATED_PORTS):
        ports[variable] = block + 2 * index
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("VAUCHFLOW_ADMIN_TOKEN", None)
    env.update({name: str(port) for name, port in ports.items()})
    env.update(VAUCHFLOW_DATA_DIR=str(tmp_path / "data"), VAUCHFLOW_BACKUPS="off", VAUCHFLOW_DEV_REDIS="cluster",
               VAUCHFLOW_API_REPLICAS="2", VAUCHFLOW_DELIVERY_REPLICAS="2", VAUCHFLOW_WEB_REPLICAS="2")  # fmt: skip
    log_path = tmp_path / "devstack.log"
    with log_path.open("wb") as output:
        stack = subprocess.Popen([sys.executable, "-m", "vauchflow_devstack"], cwd=REPO, env=env,
                                 stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: "started in" in log_path.read_text(), what="the replicated dev stack up", timeout=300,
                 process=stack, log_path=log_path, interval=0.2)  # fmt: skip
        started = descendants_and_self(stack.pid)
        # The stack's own children (the delivery service forks workers of its own, with the same command line).
        commands = [process.command for process in started if parent_of(process.pid) == stack.pid]
        for module in ("vauchflow_server", "vauchflow_delivery", "vauchflow_web"):
            assert sum(command.endswith(f"-m {module}") for command in commands) == 2, (module, commands)
        assert sum("redis-server" in command for command in commands) == 6, commands

        # Envoy health-checks both replicas of each service.
        admin = f"http://127.0.0.1:{ports['VAUCHFLOW_ENVOY_ADMIN_PORT']}/clusters"

        def healthy(cluster: str) -> set[str]:
            hosts = upstream_hosts(http_get(admin).text, cluster)
            return {address for address, host in hosts.items() if host.healthy}

        expected = {
            "api": {f"127.0.0.1:{ports['VAUCHFLOW_GRPC_PORT'] + i}" for i in range(2)},
            "webhooks": {f"127.0.0.1:{ports['VAUCHFLOW_DELIVERY_GRPC_PORT'] + i}" for i in range(2)},
            "web": {f"127.0.0.1:{ports['VAUCHFLOW_WEB_PORT'] + i}" for i in range(2)},
        }
        for cluster, addresses in expected.items():
            wait_for(lambda: healthy(cluster) == addresses, what=f"two healthy {cluster} hosts", timeout=30)  # noqa: B023

        public = f"http://127.0.0.1:{ports['VAUCHFLOW_PUBLIC_PORT']}"
        operator = RestClient(public, (tmp_path / "data" / "operator-token").read_text().strip())
        merchant = RestClient(public, new_tenant_key(operator, name="Replicated GmbH"))
        with WebhookReceiver() as receiver:
            expect_json(merchant.post("/v1/webhook-endpoints", {"url": receiver.url()}))
            code = f"REPL-{uuid.uuid4().hex[:8].upper()}"
            voucher = {"code": code, "discount": {"percent_off": 10}, "max_redemptions": "50", "flash_sale": True}
            expect_json(merchant.post("/v1/vouchers", voucher))
            for index in range(10):
                expect_json(merchant.post(f"/v1/vouchers/{code}:redeem", {"order": {**ORDER, "id": f"o-{index}"}}))
            # One voucher.created and ten redemption.succeeded, each delivered by one of the two webhook replicas.
            wait_for(lambda: len(receiver.webhook_ids()) >= 11, what="11 webhooks delivered", timeout=60)
            assert len(receiver.webhook_ids()) == 11

        # The flash-sale counter lives in the cluster: 50 - 10 units left.
        tenant_id = expect_json(merchant.get(f"/v1/vouchers/{code}"))["voucher"].get("tenant_id")
        cluster = RedisCluster(host="127.0.0.1", port=ports["VAUCHFLOW_REDIS_CLUSTER_PORT"])
        stock_keys = [key for key in cluster.scan_iter(match=f"vf:{{*:{code}}}:stock")]
        assert len(stock_keys) == 1, (stock_keys, tenant_id)
        assert cluster.hget(stock_keys[0], "units") == b"40"
        cluster.close()

        # The web service answers through Envoy from both replicas.
        for _ in range(10):
            assert http_get(f"{public}/status").status == 200
        web_hosts = upstream_hosts(http_get(admin).text, "web")
        assert all(web_hosts[address].requests > 0 for address in expected["web"]), web_hosts

        os.kill(stack.pid, signal.SIGTERM)
        assert stack.wait(timeout=90) == 0, log_path.read_text()[-4000:]
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    survivors = [process for process in started if process.is_alive()]
    assert not survivors, f"still running after shutdown: {survivors}"
    assert all(port_is_free(port) for port in (ports["VAUCHFLOW_PUBLIC_PORT"], ports["VAUCHFLOW_GRPC_PORT"] + 1))
