"""Fixtures of the delivery service's tests: a migrated database per test with the delivery role's DSN, a key
ring, owner-side rows, and a way to start the real service process (stopped in teardown)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.delivery_service import (
    DeliveryDatabase,
    DeliveryService,
    Rows,
    start_delivery_service,
    with_role,
)
from support.services import MigratedPostgres
from vauchflow_core.db.migrate import DELIVERY_ROLE
from vauchflow_core.secret_box import KeyRing, generate_key_ring_text


@pytest.fixture
def delivery_db(postgres: MigratedPostgres, delivery_password: str) -> Iterator[DeliveryDatabase]:
    database = postgres.create_database("delivery")
    try:
        yield DeliveryDatabase(
            database.name,
            database.owner_dsn,
            database.app_dsn,
            with_role(database.owner_dsn, DELIVERY_ROLE, delivery_password),
        )
    finally:
        postgres.drop_database(database.name)


@pytest.fixture
def key_ring() -> KeyRing:
    return KeyRing.parse(generate_key_ring_text())


@pytest.fixture
def rows(delivery_db: DeliveryDatabase, key_ring: KeyRing) -> Iterator[Rows]:
    owner_rows = Rows(delivery_db.owner_dsn, key_ring)
    try:
        yield owner_rows
    finally:
        owner_rows.close()


@pytest.fixture
def delivery_services(
    delivery_db: DeliveryDatabase, key_ring: KeyRing, tmp_path: Path
) -> Iterator[Callable[..., DeliveryService]]:
    """start(**settings) starts one more service process; every one is stopped (SIGTERM) at teardown."""
    started: list[DeliveryService] = []

    def start(**settings: str) -> DeliveryService:
        log_path = tmp_path / f"delivery-{len(started) + 1}.log"
        service = start_delivery_service(delivery_db, key_ring, log_path, **settings)
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in started:
            service.stop(signal.SIGTERM, timeout=30)
