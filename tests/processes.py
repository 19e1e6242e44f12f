"""The tests' view of running processes, read from /proc: who is alive, whose children, which lane."""

from __future__ import annotations

from pathlib import Path


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (state first, then the parent's pid...); [] once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def niceness(pid: int) -> int:
    return int(stat_fields(pid)[16])


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, however deep."""
    parents = {int(entry.name): int(fields[1]) for entry in Path("/proc").iterdir()
               if entry.name.isdigit() and (fields := stat_fields(int(entry.name)))}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def lanes_of(worker_pid: int) -> dict[str, int]:
    """A worker's live lane processes by lane name (`centinela worker --lane NAME`)."""
    found: dict[str, int] = {}
    for pid in descendants(worker_pid):
        argv = command_line(pid)
        if alive(pid) and "--lane" in argv[:-1]:
            found[argv[argv.index("--lane") + 1]] = pid
    return found
