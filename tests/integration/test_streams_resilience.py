"""No alert lost, none doubled: a worker killed mid-stream, and two workers sharing the zones."""

from __future__ import annotations

import json
import os
import signal
from collections import defaultdict
from pathlib import Path

import pytest

from deploy.stack import Stack
from tests.integration.alerts import AlertWatch, beep, find
from tests.integration.support import Producer, worker

pytestmark = pytest.mark.integration

ZONES = 4
BEEPERS = 24
PANICS_EACH = 8


def write_city(directory: Path, name: str, supervised_panel_s: int | None = None) -> Path:
    """A city of its own per test: zones, beepers and states never meet another test's."""
    directory.mkdir(parents=True, exist_ok=True)
    zones = "\n".join(
        f"  - {{id: {name}-z{z}, polygon: [[{z}, 0], [{z}.5, 0], [{z}.5, 0.5]]}}" for z in range(ZONES))
    beepers = "\n".join(f"  - {{id: {name}-b{b}, home_zone: {name}-z{b % ZONES}}}" for b in range(BEEPERS))
    panel = f"panels:\n  - {{id: {name}-quiet, zone: {name}-z0, supervision_s: {supervised_panel_s}}}\n" \
        if supervised_panel_s else ""
    (directory / "city.yaml").write_text(f"zones:\n{zones}\nbeepers:\n{beepers}\n{panel}")
    return directory


def send_panics(stack: Stack, name: str, rounds: int = PANICS_EACH,
                sent: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """`rounds` panics from every beeper, interleaved; the event ids each beeper sent, in order."""
    producer = Producer(stack)
    sent = defaultdict(list, sent or {})
    for _ in range(rounds):
        for b in range(BEEPERS):
            device = f"{name}-b{b}"
            panic = beep(device)
            producer.send("devices.beeps", device, panic)
            sent[device].append(str(panic["event_id"]))
    producer.close()
    return sent


def find_mine(alerts: dict, name: str) -> list[dict]:  # type: ignore[type-arg]
    return [a for a in alerts.values() if a["source"]["id"].startswith(f"{name}-b")]


def all_counted(name: str):  # type: ignore[no-untyped-def]
    def done(alerts: dict) -> bool:  # type: ignore[type-arg]
        mine = find_mine(alerts, name)
        return len(mine) == BEEPERS and all(a["count"] >= PANICS_EACH for a in mine)
    return done


def assert_each_alert_once_and_whole(watch: AlertWatch, name: str, sent: dict[str, list[str]]) -> None:
    alerts = watch.latest
    for device, event_ids in sent.items():
        ids = {m["alert_id"] for _, m in watch.messages if m["source"]["id"] == device}
        assert len(ids) == 1, f"{device} raised {len(ids)} alerts"
        [alert] = find(alerts, source={"kind": "beeper", "id": device})
        assert alert["count"] == PANICS_EACH, (device, alert["count"])
        assert alert["event_ids"] == event_ids
        assert alert["status"] == "open" and alert["priority"] == 1
        by_version: dict[int, list[dict]] = {}  # type: ignore[type-arg]
        for _, m in watch.messages:
            if m["alert_id"] == alert["alert_id"]:
                by_version.setdefault(m["version"], []).append(m)
        assert all(len({json.dumps(m, sort_keys=True) for m in same}) == 1 for same in by_version.values()), \
            "a replay published a different snapshot under a version already published"
        assert sorted(by_version) == list(range(1, alert["version"] + 1)), "a version is missing"


def test_a_worker_killed_mid_stream_and_restarted_leaves_every_alert_once(
        stack: Stack, tmp_path: Path) -> None:
    city = write_city(tmp_path / "city", "kill")
    watch = AlertWatch(stack)
    with worker(stack, city, tmp_path / "first.log") as first:
        watch.wait(lambda a: False, timeout_s=6)  # let it join its group
        sent = send_panics(stack, "kill", rounds=PANICS_EACH // 2)
        watch.wait(lambda a: len(find_mine(a, "kill")) >= BEEPERS // 3, timeout_s=30)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its lanes, all at once
        first.wait()
    # Sent while no worker runs: grouping them into the open alerts needs the zones' states back.
    sent = send_panics(stack, "kill", rounds=PANICS_EACH - PANICS_EACH // 2, sent=sent)
    with worker(stack, city, tmp_path / "second.log"):
        watch.wait(all_counted("kill"), timeout_s=60)
    watch.close()
    assert_each_alert_once_and_whole(watch, "kill", sent)


def test_two_workers_share_the_zones_without_doubling_alerts_or_deadlines(
        stack: Stack, tmp_path: Path) -> None:
    city = write_city(tmp_path / "city", "pair", supervised_panel_s=4)
    watch = AlertWatch(stack)
    with worker(stack, city, tmp_path / "one.log"), worker(stack, city, tmp_path / "two.log") as two:
        watch.wait(lambda a: False, timeout_s=8)  # both join and split the partitions
        sent = send_panics(stack, "pair")
        watch.wait(lambda a: len(find_mine(a, "pair")) >= BEEPERS // 2, timeout_s=30)
        two.terminate()  # a rebalance in the middle of the stream
        watch.wait(all_counted("pair"), timeout_s=60)
        watch.wait(lambda a: bool(find(a, source={"kind": "alarm", "id": "pair-quiet"})), timeout_s=30)
        watch.wait(lambda a: False, timeout_s=3)  # any doubled snapshot or deadline would show up now
    watch.close()
    assert_each_alert_once_and_whole(watch, "pair", sent)
    supervision = {m["alert_id"] for _, m in watch.messages if m["source"]["id"] == "pair-quiet"}
    assert len(supervision) == 1, "the silent panel's deadline fired more than once"

