"""Where a bench's CPU went: each named process's share of a core, and the whole machine's.

On the two cores the benchmarks share with the broker, Redis and their own load
generators, a latency is mostly a queue for the CPU; these figures say whose.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def machine_busy() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return (sum(values) - idle) / TICKS_PER_S, sum(values) / TICKS_PER_S


class CpuMeter:
    """Between start() and shares(): each process's percent of one core, and the machine's percent busy."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.started: dict[str, float] = {}
        self.machine: tuple[float, float] = (0.0, 0.0)
        self.at = 0.0

    def start(self) -> None:
        self.started = {name: cpu_s(pid) for name, pid in self.pids.items()}
        self.machine, self.at = machine_busy(), time.monotonic()

    def shares(self, measured_elsewhere: dict[str, float] | None = None) -> dict[str, float]:
        """`measured_elsewhere`: CPU seconds of processes that reported their own (and may be gone)."""
        elapsed = time.monotonic() - self.at
        used = {name: cpu_s(pid) - self.started[name] for name, pid in self.pids.items()}
        used.update(measured_elsewhere or {})
        shares = {name: round(100 * seconds / elapsed) for name, seconds in used.items()}
        busy, total = machine_busy()
        shares["machine busy, % of all cores"] = round(100 * (busy - self.machine[0]) / max(total - self.machine[1], 1e-9))
        return shares
