"""Fixtures of the integration tier: the session API server seen through one client session and its owner's SQL.

Module-scoped, so each test module gets its own channel; a module that needs another server (the flash-sale
tests) overrides them by name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.api_client import ApiSession, OwnerDatabase
from support.services import ApiServer


@pytest.fixture(scope="module")
def api(api_server: ApiServer) -> Iterator[ApiSession]:
    with ApiSession(api_server) as session:
        yield session


@pytest.fixture(scope="module")
def db(api_server: ApiServer) -> OwnerDatabase:
    return OwnerDatabase(api_server.owner_dsn)
