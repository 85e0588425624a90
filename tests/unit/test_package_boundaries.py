"""The layout's promises, checked on the source: imports run one way, and every SQL statement has one name.

vauchflow_core is shared by every service and imports none; no service imports another; nothing shipped imports
the development stack; only the db packages import asyncpg; only the RPC edge imports grpc.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vauchflow_core.db import queries

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "server"
SERVICES = ("vauchflow_server", "vauchflow_delivery", "vauchflow_backup")


def imported_modules(package: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in sorted((SERVER / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path.relative_to(REPO)] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path}: {name}"
        for path, names in imported_modules(package).items()
        for name in sorted(names)
        if name.split(".")[0] in forbidden
    ]


def test_the_shared_core_imports_no_service_and_not_the_dev_stack() -> None:
    assert offenders("vauchflow_core", (*SERVICES, "vauchflow_devstack")) == []


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another_or_the_dev_stack(service: str) -> None:
    others = tuple(s for s in SERVICES if s != service)
    assert offenders(service, (*others, "vauchflow_devstack")) == []


def test_the_dev_stack_is_not_inside_a_shipped_package() -> None:
    assert not (SERVER / "vauchflow_server" / "devstack").exists()
    assert (REPO / "devstack" / "vauchflow_devstack" / "__main__.py").is_file()


@pytest.mark.parametrize("package", ("vauchflow_core", *SERVICES))
def test_only_the_database_layers_import_asyncpg(package: str) -> None:
    allowed = {Path("server/vauchflow_core/db"), Path("server/vauchflow_server/db")}
    users = [
        path
        for path, names in imported_modules(package).items()
        if "asyncpg" in names and path.parent not in allowed and path.name != "store.py"
    ]
    assert users == []


def test_rules_and_use_cases_do_not_know_grpc() -> None:
    """gRPC belongs to the edge: the server's api/ package, and the shared rpc/ package."""
    edge = (Path("server/vauchflow_server/api"), Path("server/vauchflow_core/rpc"))
    shell = {Path("server/vauchflow_server/app.py")}  # the composition root wires servicers to the server
    users = [
        str(path)
        for package in ("vauchflow_core", "vauchflow_server")
        for path, names in imported_modules(package).items()
        if any(name == "grpc" or name.startswith("grpc.") for name in names)
        and not any(parent in edge for parent in path.parents)
        and path not in shell
    ]
    assert users == []


def test_every_statement_name_is_defined_once_across_the_sql_files(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: same\nSELECT 2;\n")
    with pytest.raises(ValueError, match=r"query same is defined in both a\.sql and b\.sql"):
        queries.load(sorted(tmp_path.glob("*.sql")))
    # and the real files load (a duplicate would have failed at import)
    assert {"set_tenant", "authenticate_api_key", "redeem", "lease_deliveries"} <= set(queries.QUERIES)
