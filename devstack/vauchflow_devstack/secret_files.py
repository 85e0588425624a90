"""Secrets the dev stack generates once and keeps in its data folder, readable only by the current user."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


def write_secret_file(path: Path, value: str) -> None:
    """Writes value to a new file created with mode 600 (never world-readable, not even briefly)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value)


def read_or_create_secret(path: Path, prefix: str = "") -> str:
    """Returns the secret stored at path, generating it on first use."""
    if not path.exists():
        write_secret_file(path, prefix + secrets.token_urlsafe(32))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    value = path.read_text().strip()
    if not value:
        raise ValueError(f"{path} is empty; delete it to generate a new secret")
    return value
