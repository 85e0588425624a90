"""Development stack: embedded PostgreSQL and Redis as plain child processes, migrations, and the API server.

`python -m vauchflow_devstack` runs it in the foreground (see stack.py). The pieces are reusable on their
own; the test suite starts EmbeddedPostgres and EmbeddedRedis in temporary folders.
"""

from vauchflow_devstack.child_process import ChildProcessFailed, start_child, stop_child
from vauchflow_devstack.postgres import EmbeddedPostgres
from vauchflow_devstack.redis import EmbeddedRedis, EmbeddedRedisCluster

__all__ = [
    "ChildProcessFailed",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedRedisCluster",
    "start_child",
    "stop_child",
]
