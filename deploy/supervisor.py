"""Run the backend's processes, restart one that dies, and stop them all on a signal."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.stack import private_log

PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    session: bool = True  # its own session: a Ctrl-C reaches the supervisor only, which stops it in order
    niceness: int = 0  # added to its CPU niceness: higher yields the CPU to the others
    restarts: list[float] = field(default_factory=list)
    # (pid, started at, epoch s) -> why the running child is stuck, or None: then it is restarted
    stalled: Callable[[int, float], str | None] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        self.started_at = time.time()
        out = private_log(self.log) if self.log else None
        self.process = subprocess.Popen(
            self.argv, env={**os.environ, **self.env}, stdin=subprocess.DEVNULL,
            stdout=out or None, stderr=subprocess.STDOUT if out else None, start_new_session=self.session,
            preexec_fn=lambda: _prepare(self.niceness),
        )
        if out:
            out.close()


def _prepare(niceness: int) -> None:
    """In the child: a supervisor killed outright takes it along at once instead of orphaning it
    (a stream lane killed so replays its unacknowledged events on restart: nothing is lost)."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.nice(niceness)


class Supervisor:
    """Keeps children running until stopped: a child that fails is restarted, one that
    finished (exit 0) is left alone, and one that keeps failing is given up on."""

    max_restarts_per_minute = 5

    def __init__(self, stop_timeout_s: float = 10.0) -> None:
        self.stop_timeout_s = stop_timeout_s  # then whatever has not stopped is killed
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def start(self, child: Child) -> None:
        child.start()
        self.children.append(child)

    def run_until_signal(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())
        while not self.stopping.wait(0.5):
            for child in self.children:
                code = child.process.poll() if child.process is not None else None
                if code == 0:
                    print(f"centinela: {child.name} finished", file=sys.stderr)
                    child.process = None
                elif code is not None:
                    self._restart(child)
                elif child.process is not None and child.stalled is not None:
                    reason = child.stalled(child.process.pid, child.started_at)
                    if reason:
                        print(f"centinela: {child.name} {reason}; restarting it", file=sys.stderr)
                        child.process.kill()
                        child.process.wait()
                        self._restart(child)
        self.stop()
        return 0

    def _restart(self, child: Child) -> None:
        now = time.monotonic()
        child.restarts = [t for t in child.restarts if now - t < 60] + [now]
        code = child.process.returncode if child.process else None
        if len(child.restarts) > self.max_restarts_per_minute:
            print(f"centinela: {child.name} keeps exiting (last code {code}); not restarting it", file=sys.stderr)
            child.process = None
            return
        print(f"centinela: {child.name} exited with {code}; restarting", file=sys.stderr)
        child.start()

    def stop(self) -> None:
        running = [c.process for c in reversed(self.children) if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
