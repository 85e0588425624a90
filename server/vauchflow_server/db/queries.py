"""Loads queries.sql into a name → statement table, once, at import."""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load(path: Path) -> dict[str, str]:
    text = path.read_text()
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2]):
        statement = "\n".join(line for line in body.strip().splitlines() if not line.startswith("--")).strip()
        if name in queries:
            raise ValueError(f"duplicate query name {name} in {path.name}")
        queries[name] = statement.rstrip(";")
    return queries


QUERIES = load(Path(__file__).with_name("queries.sql"))
