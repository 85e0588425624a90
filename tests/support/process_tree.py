"""Snapshots of a process and its descendants from /proc, to prove later that none of them survived."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessIdentity:
    """A PID plus its start time, so a recycled PID is never mistaken for the original process."""

    pid: int
    start_ticks: int
    command: str

    def is_alive(self) -> bool:
        current = _read_stat(self.pid)
        return current is not None and current[1] == self.start_ticks and current[2] != "Z"


def _read_stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time in clock ticks, state) of pid, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may contain spaces and parentheses; the fields after the last ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19]), fields[0]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def descendants_and_self(root_pid: int) -> list[ProcessIdentity]:
    parents: dict[int, list[int]] = {}
    identities: dict[int, ProcessIdentity] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read_stat(int(entry.name))
        if stat is None:
            continue
        pid = int(entry.name)
        parents.setdefault(stat[0], []).append(pid)
        identities[pid] = ProcessIdentity(pid, stat[1], _command(pid))
    found, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        if pid in identities:
            found.append(identities[pid])
        pending.extend(parents.get(pid, []))
    return found
