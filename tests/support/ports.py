"""Loopback TCP ports for processes the tests start."""

from __future__ import annotations

import secrets
import socket

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


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now (SO_REUSEADDR, as servers do, so TIME_WAIT from
    closed connections does not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_redis_cluster_ports(nodes: int, bus_offset: int = 10000) -> int:
    """The first of `nodes` consecutive free ports whose cluster bus ports (port + bus_offset) are free too; below
    the kernel's ephemeral range so the bus ports still fit under 65536."""
    for first in range(21000 + secrets.randbelow(400) * 20, 55000 - bus_offset, 20):
        wanted = [first + i for i in range(nodes)]
        if all(port_is_free(port) and port_is_free(port + bus_offset) for port in wanted):
            return first
    raise RuntimeError("no free ports for a Redis Cluster")
