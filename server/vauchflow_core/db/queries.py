"""Every SQL statement of every service, by name: the .sql files under sql/, loaded once at import.

A name is defined once across all the files (loading fails otherwise), so two services never run two different
statements under one name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
SQL_DIR = Path(__file__).with_name("sql")


def load(paths: Iterable[Path]) -> dict[str, str]:
    queries: dict[str, str] = {}
    defined_in: dict[str, str] = {}
    for path in paths:
        parts = _NAME.split(path.read_text())
        # parts = [preamble, name1, body1, name2, body2, ...]
        for name, body in zip(parts[1::2], parts[2::2], strict=False):
            if name in queries:
                raise ValueError(f"query {name} is defined in both {defined_in[name]} and {path.name}")
            statement = "\n".join(line for line in body.strip().splitlines() if not line.startswith("--")).strip()
            queries[name] = statement.rstrip(";")
            defined_in[name] = path.name
    return queries


QUERIES = load(sorted(SQL_DIR.glob("*.sql")))
