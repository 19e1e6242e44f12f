"""Run the backend's processes and keep them running until stopped.

A process that dies, whatever its exit code, is started again after a capped exponential
backoff and never given up on: a supervisor that stops trying turns a 20-second broker
outage into a permanent one. Every restart is logged, counted, and reported to Redis
(`vocabulary.progress.PROCESSES`) for /healthz and /metrics.
"""

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
from typing import Literal

from deploy.stack import private_log
from vocabulary import progress
from vocabulary.errors import Unavailable

PR_SET_PDEATHSIG = 1  # linux/prctl.h
_LIBC = ctypes.CDLL(None)  # loaded here: between fork and exec the child must not take the loader's lock
TICK_S = 0.2
REPORT_EVERY_S = 2.0


class StartFailed(Unavailable):
    """A process that must answer before anything else starts did not."""


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path | None = None
    session: bool = True  # its own session: a Ctrl-C reaches the supervisor only, which stops it in order
    niceness: int = 0  # added to its CPU niceness: higher yields the CPU to the others
    ready: Callable[[], bool] | None = None  # True once it serves (a server: its port answers)
    on_ready: Callable[[], None] | None = None  # run each time it is ready (the broker: users, ACLs, topics)
    process: subprocess.Popen[bytes] | None = None
    state: Literal["running", "starting", "waiting"] = "waiting"
    restarts: int = 0
    failures: int = 0  # consecutive early deaths: the backoff's exponent
    last_exit: str = ""
    started_at: float = 0.0
    due_at: float = 0.0
    changed_at: float = field(default_factory=time.time)
    # (pid, started at, epoch s) -> why the running child is stuck, or None; a stuck child is killed
    stalled: Callable[[int, float], str | None] | None = None
    started_wall: float = 0.0

    def start(self) -> None:
        self.started_wall = time.time()  # the lane watch judges against the wall clock
        out = private_log(self.log) if self.log else None
        self.process = subprocess.Popen(
            self.argv, env={**os.environ, **self.env}, stdin=subprocess.DEVNULL,
            stdout=out or None, stderr=subprocess.STDOUT if out else None, start_new_session=self.session,
            preexec_fn=lambda: _prepare(self.niceness),
        )
        if out:
            out.close()

    def record(self, now: float) -> progress.ProcessRecord:
        alive = self.process is not None and self.state != "waiting"
        return progress.ProcessRecord(state=self.state, pid=self.process.pid if alive and self.process else None,
                                      restarts=self.restarts, last_exit=self.last_exit, since=self.changed_at, seen=now)


def _prepare(niceness: int) -> None:
    """In the child: a supervisor killed outright takes it along at once instead of orphaning it
    (a stream lane killed so replays its unacknowledged events on restart: nothing is lost)."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.nice(niceness)


def backoff_s(failures: int, first_s: float, max_s: float) -> float:
    """The wait before the next start after `failures` early deaths in a row: doubling, capped."""
    return 0.0 if failures <= 0 else min(first_s * 2 ** (failures - 1), max_s)


def describe_exit(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"code {code}"


class Reporter:
    """Writes the children's records to Redis; an unreachable Redis only delays the report."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._error = redis.RedisError
        self._complained = False

    def report(self, children: list[Child]) -> None:
        now = time.time()
        try:
            self._client.hset(progress.PROCESSES, mapping={c.name: c.record(now).model_dump_json() for c in children})
            self._complained = False
        except self._error as error:
            if not self._complained:
                print(f"centinela: cannot report process states to Redis ({type(error).__name__}); will retry",
                      file=sys.stderr)
            self._complained = True

    def forget(self, children: list[Child]) -> None:
        try:
            self._client.hdel(progress.PROCESSES, *(c.name for c in children))
        except self._error:
            pass
        self._client.close()


class Supervisor:
    """Keeps children running until stopped."""

    def __init__(self, stop_timeout_s: float = 10.0, first_backoff_s: float = 0.5, max_backoff_s: float = 8.0,
                 stable_s: float = 30.0, redis_url: str | None = None) -> None:
        self.stop_timeout_s = stop_timeout_s  # then whatever has not stopped is killed
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stable_s = stable_s  # a child up this long is healthy again: its backoff starts over
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.reporter = Reporter(redis_url) if redis_url else None
        self._reported_at = 0.0

    def start(self, child: Child) -> None:
        """Start and supervise `child`."""
        self.children.append(child)
        self._launch(child)

    def wait_until_running(self, timeout_s: float) -> None:
        """Wait until every child started so far is ready (servers that others need); StartFailed if one
        exits or `timeout_s` passes first."""
        deadline = time.monotonic() + timeout_s
        while starting := [child for child in self.children if child.state != "running"]:
            for child in starting:
                assert child.process is not None
                if child.process.poll() is not None:
                    where = f"; see {child.log}" if child.log else ""
                    raise StartFailed(f"{child.name} exited with {describe_exit(child.process.returncode)}{where}")
                self._check_ready(child)
            if time.monotonic() > deadline:
                raise StartFailed(f"{', '.join(c.name for c in starting)} did not become ready within {timeout_s:.0f} s")
            time.sleep(0.1)

    def run_until_signal(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())
        while not self.stopping.wait(TICK_S):
            self.tick()
        self.stop()
        return 0

    def tick(self) -> None:
        now = time.monotonic()
        for child in self.children:
            self._watch(child, now)
        if self.reporter and now - self._reported_at >= REPORT_EVERY_S:
            self._report()

    def _watch(self, child: Child, now: float) -> None:
        if child.state == "waiting":
            if now >= child.due_at:
                self._launch(child)
            return
        assert child.process is not None
        code = child.process.poll()
        if code is not None:
            self._exited(child, code, now)
        elif child.state == "starting":
            self._check_ready(child)
        elif child.stalled is not None and (reason := child.stalled(child.process.pid, child.started_wall)):
            print(f"centinela: {child.name} {reason}; killing it", file=sys.stderr, flush=True)
            child.process.kill()
        elif child.failures and now - child.started_at >= self.stable_s:
            child.failures = 0

    def _exited(self, child: Child, code: int, now: float) -> None:
        child.last_exit = describe_exit(code)
        child.state, child.changed_at = "waiting", time.time()
        child.failures += 1
        child.restarts += 1
        delay = backoff_s(child.failures, self.first_backoff_s, self.max_backoff_s)
        child.due_at = now + delay
        print(f"centinela: {child.name} exited with {child.last_exit}; restart {child.restarts} in {delay:.1f} s",
              file=sys.stderr, flush=True)
        self._report()

    def _launch(self, child: Child) -> None:
        try:
            child.start()
        except OSError as error:  # fork or exec failed: try again later, like any other death
            print(f"centinela: cannot start {child.name}: {error}", file=sys.stderr, flush=True)
            child.failures += 1
            child.due_at = time.monotonic() + backoff_s(child.failures, self.first_backoff_s, self.max_backoff_s)
            return
        child.state, child.started_at, child.changed_at = "starting", time.monotonic(), time.time()
        self._check_ready(child)

    def _check_ready(self, child: Child) -> None:
        if child.ready is not None and not child.ready():
            return
        if child.on_ready is not None:
            try:
                child.on_ready()
            except Exception as error:  # e.g. the broker answers but cannot create topics yet
                print(f"centinela: {child.name} is up but not usable ({error}); restarting it", file=sys.stderr)
                assert child.process is not None
                child.process.kill()
                return
        child.state, child.changed_at = "running", time.time()
        self._report()

    def _report(self) -> None:
        if self.reporter:
            self._reported_at = time.monotonic()
            self.reporter.report(self.children)

    def stop(self) -> None:
        if self.reporter:
            self.reporter.forget(self.children)
            self.reporter = None
        running = [c.process for c in reversed(self.children)
                   if c.state != "waiting" and c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in self.children:
            child.state = "waiting"
