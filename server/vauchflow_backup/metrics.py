"""Prometheus metrics of the backup job, served on their own port (default 9466).

Everything about backups is read from the repository's catalog at each scrape, not from this process's memory:
a backup taken by `make backup` in another process, or before this process started, counts the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vauchflow_backup.catalog import STAGES, CatalogError
from vauchflow_backup.repository import Repository

log = logging.getLogger(__name__)


class CatalogCollector(Collector):
    def __init__(self, repository: Repository, receiver_running: Callable[[], bool] | None = None) -> None:
        self._repository = repository
        self._receiver_running = receiver_running

    def collect(self) -> Iterator[Metric]:
        try:
            catalog = self._repository.read_catalog()
        except (CatalogError, OSError) as error:
            log.error("cannot read the catalog", extra={"action": "metrics_catalog_unreadable", "problem": str(error)})
            yield GaugeMetricFamily("vauchflow_backup_catalog_readable", "1 if the catalog could be read.", value=0)
            return
        yield GaugeMetricFamily("vauchflow_backup_catalog_readable", "1 if the catalog could be read.", value=1)
        yield GaugeMetricFamily(
            "vauchflow_backup_last_success_timestamp_seconds",
            "When the newest successful base backup finished (Unix time; 0: never). Backup currency.",
            value=catalog.last_success_at or 0.0,
        )
        last = catalog.last_backup
        duration = GaugeMetricFamily("vauchflow_backup_last_duration_seconds", "How long the newest base backup took.")
        size = GaugeMetricFamily("vauchflow_backup_last_size_bytes", "Stored size of the newest base backup.")
        if last is not None:
            duration.add_metric([], last.duration_seconds)
            size.add_metric([], last.size_bytes)
        yield duration
        yield size
        yield GaugeMetricFamily(
            "vauchflow_backup_restorable_backups",
            "Base backups in the catalog that have not failed verification.",
            value=len(catalog.restorable),
        )
        wal_age = GaugeMetricFamily(
            "vauchflow_backup_wal_newest_age_seconds",
            "Seconds since WAL last arrived in the repository (the open .partial segment included). On an idle "
            "database it grows although nothing is at risk; absent when the repository holds no WAL.",
        )
        newest = self._repository.newest_wal_modified_at()
        if newest is not None:
            wal_age.add_metric([], max(0.0, time.time() - newest))
        yield wal_age
        failures = CounterMetricFamily(
            "vauchflow_backup_failures", "Failures by stage, as recorded in the catalog.", labels=["stage"]
        )
        for stage in STAGES:
            failures.add_metric([stage], catalog.failures.get(stage, 0))
        yield failures
        if self._receiver_running is not None:
            yield GaugeMetricFamily(
                "vauchflow_backup_wal_receiver_up", "1 while this job's pg_receivewal runs.",
                value=1 if self._receiver_running() else 0,
            )  # fmt: skip


def serve_metrics(
    repository: Repository, host: str, port: int, receiver_running: Callable[[], bool] | None = None
) -> tuple[Any, Any]:
    """Starts /metrics (a daemon thread); returns (server, thread) for shutdown."""
    registry = CollectorRegistry()
    registry.register(CatalogCollector(repository, receiver_running))
    return start_http_server(port, addr=host, registry=registry)
