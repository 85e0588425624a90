"""Loopback TCP ports for processes the tests start (port_is_free and the cluster search are the dev stack's)."""

from __future__ import annotations

import socket

from vauchflow_devstack.child_process import port_is_free
from vauchflow_devstack.redis import CLUSTER_BUS_OFFSET, free_cluster_ports

__all__ = ["free_port", "free_redis_cluster_ports", "port_is_free"]

# Every port free_port handed out in this test process. The kernel may offer a port again as soon as the probe
# closes, and callers ask for two or three before starting the process that binds them (a service's port and its
# metrics port): the same port twice made a web service fail to bind its metrics.
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on right now and not handed out before in this process (the kernel's choice, so
    parallel sessions rarely collide)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def free_redis_cluster_ports(nodes: int, bus_offset: int = CLUSTER_BUS_OFFSET) -> int:
    return free_cluster_ports(nodes, bus_offset)
