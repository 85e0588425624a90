"""The URL decides the kind of Redis client: one server, or a Redis Cluster discovered from one node."""

from __future__ import annotations

import redis.asyncio as redis_asyncio
from redis.asyncio.cluster import RedisCluster

from vauchflow_core.redis_client import is_cluster_url, redis_client


def test_no_url_no_client() -> None:
    assert redis_client(None, 0.1) is None and redis_client("", 0.1) is None


def test_a_redis_url_is_one_server() -> None:
    client = redis_client("redis://127.0.0.1:6379/0", 0.1)
    assert isinstance(client, redis_asyncio.Redis) and not isinstance(client, RedisCluster)
    assert not is_cluster_url("redis://127.0.0.1:6379/0")


def test_a_cluster_url_is_a_cluster_client_seeded_with_that_node() -> None:
    for url, ssl in (
        ("redis+cluster://cache-0.internal:7000", False),
        ("rediss+cluster://cache-0.internal:7000", True),
    ):
        assert is_cluster_url(url)
        client = redis_client(url, 0.25)
        assert isinstance(client, RedisCluster)
        (seed,) = client.nodes_manager.startup_nodes.values()
        assert (seed.host, seed.port) == ("cache-0.internal", 7000)
        assert seed.connection_kwargs["socket_timeout"] == 0.25
        assert (seed.connection_class.__name__ == "SSLConnection") == ssl
