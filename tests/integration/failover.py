"""A node of the three-node cluster lost while everything flows (contract section 12): `centinela up
--brokers 3`, DC-09 panels, HTTP phones and camera motion sending, and the node that leads the most
partitions of devices.beeps, zone.events and alerts SIGKILLed, again and again; `up` restarts it.

Each kill is measured from outside: how long until the node ran again, the largest gap in alert
delivery to an operator's live stream after it, and the largest gap between two acknowledgements
to the devices (how long writes stalled).
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from deploy.broker import admin_client
from tests.integration.devices import Acknowledged, Senders
from tests.integration.system import OPERATOR, System, poll
from vocabulary import topics

WATCHED = (topics.BEEPS, topics.ZONE_EVENTS, topics.ALERTS)
WINDOW_S = 12.0  # after a kill, where the gaps are looked for


@dataclass(frozen=True)
class Kill:
    node: int
    back_s: float  # until `up` ran the node again
    alert_gap_s: float  # the longest wait for the next alert on the live stream
    ack_gap_s: float  # the longest wait for the next acknowledgement to a device

    def __str__(self) -> str:
        return (f"node {self.node} killed: back in {self.back_s:.1f} s, largest gap in alert delivery "
                f"{self.alert_gap_s:.2f} s, in acknowledgements {self.ack_gap_s:.2f} s")


@dataclass
class LiveStream:
    """An operator's live stream, noting when each alert arrives."""

    system: System
    arrivals: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> LiveStream:
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                with httpx.Client(base_url=self.system.base, headers=OPERATOR, timeout=10) as http, \
                        http.stream("GET", "/api/stream") as stream:
                    for line in stream.iter_lines():
                        if line.startswith("event: alert"):
                            self.arrivals.append(time.monotonic())
                        if self.stop.is_set():
                            return
            except httpx.HTTPError:
                time.sleep(0.2)


def leader_of_most(system: System) -> int:
    """The node that leads the most partitions of the watched topics."""
    admin = admin_client(system.kafka, system.security("admin"), 20)
    try:
        described = admin.describe_topics([topics.named(name) for name in WATCHED])
    finally:
        admin.close()
    leaders = Counter(p["leader_id"] for topic in described for p in topic["partitions"] if p["leader_id"] >= 0)
    return leaders.most_common(1)[0][0]


def largest_gap(times: list[float], start: float, window_s: float = WINDOW_S) -> float:
    """From `start`, the longest wait between one event and the next within the window."""
    points = [start, *sorted(t for t in times if start < t <= start + window_s)]
    return max((b - a for a, b in itertools.pairwise(points)), default=window_s)


def kill_leaders(system: System, kills: int, spacing_s: tuple[float, float], rng: random.Random,
                 report: bool = False) -> tuple[Acknowledged, list[Kill]]:
    """`kills` SIGKILLs of the leading node, `spacing_s` apart, while devices send; what they were
    acknowledged and each kill's figures."""
    stream = LiveStream(system).start()
    senders = Senders(system).start(camera_per_s=20)
    done: list[tuple[int, float, float]] = []
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(*spacing_s))
            node = leader_of_most(system)
            name = f"broker-{node}"
            before = system.running(name)
            os.kill(before.pid or 0, signal.SIGKILL)
            killed = time.monotonic()
            poll(lambda name=name, pid=before.pid: (r := system.records().get(name)) and r.pid != pid
                 and r.state == "running", 90, f"{name} restarted")
            done.append((node, killed, time.monotonic() - killed))
            if report:
                print(f"  kill {len(done)}/{kills}: node {node}, back in {done[-1][2]:.1f} s", flush=True)
        time.sleep(WINDOW_S)
        senders.finish.set()
        senders.join()
    finally:
        senders.abandon.set()
        stream.stop.set()
    figures = [Kill(node, back_s, largest_gap(stream.arrivals, killed), largest_gap(senders.acked.times, killed))
               for node, killed, back_s in done]
    return senders.acked, figures


def long_grouping(system: System) -> None:
    """One alert per device for the whole run, so its count is every panic it sent."""
    rules = system.config / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("rules:\n", "rules:\n  grouping_window_s: 3600\n", 1),
                     encoding="utf-8")
