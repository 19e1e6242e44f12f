"""One round of the streams soak: a worker killed and restarted, or two workers through a rebalance.

Each round has a city of its own (its zones, beepers and states never meet another
round's) on a shared broker and Redis, its shape drawn from the round's random source
(1 to 8 zones, 8 to 40 beepers, about half of them panicking from a location in some
zone rather than from none, which leaves the alert in their home zone; cameras in about
three zones of four), so no two rounds run on the same city. It sends panics from every
beeper, and checks from the `alerts` topic that every beeper has exactly one alert that
counts each of its panics once, in order, in the zone it panicked in, with consecutive
versions and no version published twice differently. Each camera sends a few frame updates
after every volley of panics: they attach to the zone's newest panic alert, several to one
alert from one message (one change, folded), so a replay must fold them exactly as the
first run did.
`make test` runs one round of each (tests/integration/test_streams_resilience.py);
`make soak` repeats them (tests/soak/soak_streams.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alert_rules.engine import MAX_EVENT_IDS
from deploy.stack import Stack
from tests.integration.alerts import Alerts, AlertWatch, beep, find, motion, uid
from tests.integration.support import Broker, Producer, worker
from vocabulary import internal

PANICS_EACH = 8
FRAMES = 3  # camera motion updates per zone after each volley of panics
MOTION = "motion-"  # how the camera's event ids start
STALL_S = 60.0  # a restarted worker that applies nothing this long, with panics waiting, has stalled


@dataclass
class Round:
    """What one round found."""

    name: str
    sent: int = 0
    lost: int = 0  # panics sent that no alert counts
    doubled: int = 0  # extra alerts for one beeper, and panics counted more than once
    stalled: bool = False
    healed: int = 0  # lanes their worker restarted because they stalled
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not (self.lost or self.doubled or self.stalled or self.problems)

    def summary(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        text = (f"{self.name}: {verdict} in {self.seconds:.1f} s (sent {self.sent}, lost {self.lost}, "
                f"doubled {self.doubled}, stalled {int(self.stalled)}, stalled lanes restarted {self.healed})")
        return text + "".join(f"\n    {p}" for p in self.problems[:8])


@dataclass
class City:
    """One round's city. Zone z is the triangle (z, 0), (z + 0.5, 0), (z + 0.5, 0.5), in lon/lat."""

    name: str
    zones: int
    beepers: int
    cameras: list[int]  # the zones that have one
    located: dict[int, int]  # beeper -> the zone its panics' location lies in; the others send none

    @classmethod
    def drawn(cls, name: str, rng: random.Random) -> City:
        zones, beepers = rng.randint(1, 8), rng.randint(8, 40)
        return cls(name, zones, beepers, cameras=[z for z in range(zones) if z == 0 or rng.random() < 0.75],
                   located={b: rng.randrange(zones) for b in range(beepers) if rng.random() < 0.5})

    def __str__(self) -> str:
        return (f"{self.zones} zones, {self.beepers} beepers ({len(self.located)} located), "
                f"{len(self.cameras)} cameras")

    def home(self, beeper: int) -> int:
        return beeper % self.zones

    def zone_of(self, beeper: int) -> str:
        """The zone the beeper's alert belongs to: its panics' location's, else its home zone."""
        return f"{self.name}-z{self.located.get(beeper, self.home(beeper))}"

    def panic(self, beeper: int) -> dict[str, object]:
        if beeper not in self.located:
            return beep(f"{self.name}-b{beeper}")
        return beep(f"{self.name}-b{beeper}", location={"lat": 0.1, "lon": self.located[beeper] + 0.4,
                                                        "accuracy_m": 10})

    def write(self, directory: Path, supervised_panel_s: int | None = None) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        name = self.name
        zones = "\n".join(
            f"  - {{id: {name}-z{z}, polygon: [[{z}, 0], [{z}.5, 0], [{z}.5, 0.5]]}}" for z in range(self.zones))
        beepers = "\n".join(f"  - {{id: {name}-b{b}, home_zone: {name}-z{self.home(b)}}}"
                            for b in range(self.beepers))
        cameras = "\n".join(f"  - {{id: {name}-c{z}, zone: {name}-z{z}}}" for z in self.cameras)
        panel = f"panels:\n  - {{id: {name}-quiet, zone: {name}-z0, supervision_s: {supervised_panel_s}}}\n" \
            if supervised_panel_s else ""
        (directory / "city.yaml").write_text(f"zones:\n{zones}\nbeepers:\n{beepers}\ncameras:\n{cameras}\n{panel}")
        return directory


def send_panics(stack: Broker, city: City, rounds: int, sent: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """`rounds` panics from every beeper, interleaved; the event ids each beeper sent, in order."""
    producer = Producer(stack)
    sent = defaultdict(list, sent or {})
    name = city.name
    for _ in range(rounds):
        for b in range(city.beepers):
            device = f"{name}-b{b}"
            panic = city.panic(b)
            producer.send("devices.beeps", device, panic)
            sent[device].append(str(panic["event_id"]))
        for z in city.cameras:
            camera, episode = f"{name}-c{z}", uid()
            for frame in range(FRAMES):
                producer.send("cameras.motion", camera, motion(
                    camera, phase="update" if frame else "start", event_id=f"{MOTION}{uid()}", motion_id=episode,
                    snapshot=f"/s/{episode}-{frame}.jpg"))
    producer.close()
    return sent


def panics_of(alert: dict) -> list[str]:  # type: ignore[type-arg]
    return [e for e in alert["event_ids"] if not e.startswith(MOTION)]


def mine(alerts: Alerts, name: str) -> list[dict]:  # type: ignore[type-arg]
    return [a for a in alerts.values() if a["source"]["id"].startswith(f"{name}-b")]


def all_counted(city: City, sent: dict[str, list[str]]) -> Callable[[Alerts], bool]:
    total = sum(len(ids) for ids in sent.values())

    def done(alerts: Alerts) -> bool:
        found = mine(alerts, city.name)
        return len(found) >= city.beepers and sum(a["count"] for a in found) >= total
    return done


def wait_unless_stalled(watch: AlertWatch, done: Callable[[Alerts], bool], result: Round,
                        timeout_s: float = 150.0) -> None:
    """Wait for `done`. STALL_S without any new snapshot since the wait began is a stall."""
    deadline = time.monotonic() + timeout_s
    at_start = seen = len(watch.messages)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if done(watch.wait(done, timeout_s=2)):
            return
        if len(watch.messages) > seen:
            quiet_since, seen = time.monotonic(), len(watch.messages)
        elif time.monotonic() - quiet_since > STALL_S:
            if seen == at_start:
                result.stalled = True
                result.problems.append(f"the worker applied nothing for {STALL_S:.0f} s with panics waiting")
            else:
                result.problems.append(f"quiet for {STALL_S:.0f} s before every panic was counted")
            return
    result.problems.append(f"not all counted within {timeout_s:.0f} s")


def check(watch: AlertWatch, city: City, sent: dict[str, list[str]], result: Round) -> None:
    """Every beeper's alert once, whole and in its zone: the round's lost, doubled and problems."""
    latest = watch.latest
    result.sent = sum(len(ids) for ids in sent.values())
    for beeper in range(city.beepers):
        device = f"{city.name}-b{beeper}"
        event_ids = sent[device]
        alerts = find(latest, source={"kind": "beeper", "id": device})
        counted = [e for a in alerts for e in panics_of(a)]  # an alert shows its newest event ids only
        count = sum(a["count"] for a in alerts)
        result.lost += max(0, len(event_ids) - count)
        result.doubled += max(0, len(alerts) - 1) + max(0, count - len(event_ids)) + len(counted) - len(set(counted))
        if len(alerts) != 1:
            result.problems.append(f"{device} raised {len(alerts)} alerts")
            continue
        [alert] = alerts
        if alert["zone_id"] != city.zone_of(beeper):
            result.problems.append(f"{device}: alert in {alert['zone_id']}, not {city.zone_of(beeper)}")
        shown = panics_of(alert)
        whole = len(alert["event_ids"]) < MAX_EVENT_IDS  # else the newest only; `count` covers the rest
        if shown != (event_ids if whole else event_ids[len(event_ids) - len(shown):]):
            result.problems.append(f"{device}: panics counted out of order or not at all")
        if alert["count"] != len(event_ids):
            result.problems.append(f"{device}: count {alert['count']} of {len(event_ids)}")
        by_version: dict[int, set[str]] = defaultdict(set)
        for _, m in watch.messages:
            if m["alert_id"] == alert["alert_id"]:
                by_version[m["version"]].add(json.dumps(m, sort_keys=True))
        if any(len(same) > 1 for same in by_version.values()):
            result.problems.append(f"{device}: a replay published a different snapshot under an old version")
        if sorted(by_version) != list(range(1, alert["version"] + 1)):
            result.problems.append(f"{device}: a version is missing")


def count_healed(workdir: Path, result: Round) -> None:
    """The lanes the round's workers restarted for a stall (their supervisor logs each with a reason)."""
    for log in workdir.glob("*.log"):
        result.healed += sum("; restarting it" in line for line in log.read_text(errors="replace").splitlines())


def soak_parser(doc: str, seeded: bool = True) -> argparse.ArgumentParser:
    """A soak's command line: --workdir, and --seed for the soaks that draw at random."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="where the logs go (default: a new temporary folder)")
    if seeded:
        parser.add_argument("--seed", type=int, default=int(time.time()))
    return parser


def soak_workdir(given: Path | None, name: str) -> Path:
    """The soak's folder; and the internal key (section 9) that `up` and the workers inherit."""
    os.environ.setdefault(internal.KEY_ENV, secrets.token_hex(internal.KEY_BYTES))
    return given or Path(tempfile.mkdtemp(prefix=f"centinela-soak-{name}-"))


@contextmanager
def cpu_hogs(count: int = 2) -> Iterator[None]:
    """Processes that keep `count` cores busy, as other work on a loaded machine would."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def kill_and_restart(stack: Stack, workdir: Path, name: str, rng: random.Random) -> Round:
    """A worker killed outright mid-stream; the rest of the panics sent while none runs; a new worker."""
    city = City.drawn(name, rng)
    result, started = Round(f"kill {name} ({city})"), time.monotonic()
    config = city.write(workdir / "city")
    watch = AlertWatch(stack)
    try:
        with worker(stack, config, workdir / "first.log") as first:
            sent = send_panics(stack, city, PANICS_EACH // 2)
            # Killed at a different moment each round: before, during or after the first saves.
            some = rng.randint(1, city.beepers)
            watch.wait(lambda a: len(mine(a, name)) >= some, timeout_s=60)
            watch.wait(lambda a: False, timeout_s=rng.uniform(0, 1.5))
            os.killpg(first.pid, signal.SIGKILL)  # the worker and its lanes, all at once
            first.wait()
        # Sent while no worker runs: grouping them into the open alerts needs the zones' states back.
        sent = send_panics(stack, city, PANICS_EACH - PANICS_EACH // 2, sent)
        with worker(stack, config, workdir / "second.log"):
            wait_unless_stalled(watch, all_counted(city, sent), result)
        check(watch, city, sent, result)
    finally:
        watch.close()
    count_healed(workdir, result)
    result.seconds = time.monotonic() - started
    return result


def rebalance(stack: Stack, workdir: Path, name: str, rng: random.Random) -> Round:
    """Two workers share the zones; one leaves mid-stream (stopped, or killed outright)."""
    killed, city = rng.random() < 0.5, City.drawn(name, rng)
    result = Round(f"rebalance {name} ({'killed' if killed else 'stopped'}; {city})")
    started, config = time.monotonic(), city.write(workdir / "city", supervised_panel_s=4)
    watch = AlertWatch(stack)
    try:
        with worker(stack, config, workdir / "one.log"), worker(stack, config, workdir / "two.log") as two:
            watch.wait(lambda a: False, timeout_s=6)  # both join and split the partitions
            sent = send_panics(stack, city, PANICS_EACH)
            watch.wait(lambda a: len(mine(a, name)) >= city.beepers // 2, timeout_s=60)
            if killed:
                os.killpg(two.pid, signal.SIGKILL)
            else:
                two.terminate()
            two.wait()
            wait_unless_stalled(watch, all_counted(city, sent), result)
            watch.wait(lambda a: bool(find(a, source={"kind": "alarm", "id": f"{name}-quiet"})), timeout_s=30)
            watch.wait(lambda a: False, timeout_s=3)  # a doubled snapshot or deadline would show up now
        check(watch, city, sent, result)
        supervision = {m["alert_id"] for _, m in watch.messages if m["source"]["id"] == f"{name}-quiet"}
        if len(supervision) != 1:
            result.problems.append(f"the silent panel's deadline fired {len(supervision)} times, not once")
    finally:
        watch.close()
    count_healed(workdir, result)
    result.seconds = time.monotonic() - started
    return result
