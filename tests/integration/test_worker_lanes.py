"""A worker is three lane processes: motion at the lowest CPU priority, a failed lane restarted,
and both gone with the worker, whether it is stopped or killed outright."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.stack import Stack
from streams.ports import partition_of
from tests.integration.alerts import FAST_CITY, Alerts, AlertWatch, beep, find, motion, uid
from tests.integration.support import Producer, worker
from tests.processes import alive, lanes_of, niceness

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def test_a_worker_runs_its_lanes_restarts_a_failed_one_and_takes_them_along(
        stack: Stack, example_config: Path, tmp_path: Path) -> None:
    with worker(stack, example_config, tmp_path / "worker.log") as process:
        assert wait_for(lambda: set(lanes_of(process.pid)) == {"urgent", "motion", "evaluate"}, 20), lanes_of(process.pid)
        lanes = lanes_of(process.pid)
        assert {lane: niceness(pid) for lane, pid in lanes.items()} == {"urgent": 0, "evaluate": 0, "motion": 19}

        os.kill(lanes["motion"], signal.SIGKILL)
        assert wait_for(lambda: lanes_of(process.pid).get("motion") not in (None, lanes["motion"]), 10), \
            "the failed lane was not restarted"
        lanes = lanes_of(process.pid)

        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert wait_for(lambda: not any(alive(pid) for pid in lanes.values()), 5), "lanes outlived their worker"


def test_a_lane_that_stops_making_progress_is_restarted_by_its_worker(
        stack: Stack, example_config: Path, tmp_path: Path) -> None:
    import shutil

    import redis

    from streams.health import LANES_KEY, lane_key

    config = tmp_path / "config"
    shutil.copytree(example_config, config)
    (config / "health.yaml").write_text("health:\n  stall_s: 3\n")
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    with worker(stack, config, tmp_path / "worker.log") as process:
        assert wait_for(lambda: set(lanes_of(process.pid)) == {"urgent", "motion", "evaluate"}, 20)
        evaluate = lanes_of(process.pid)["evaluate"]
        assert wait_for(lambda: client.hget(lane_key(evaluate), "lane") == "evaluate", 30), \
            "the lane records its progress where the center reads it"
        assert lane_key(evaluate) in client.smembers(LANES_KEY)
        assert client.hget(lane_key(evaluate), "worker") == str(process.pid)

        os.kill(evaluate, signal.SIGSTOP)  # alive, but it applies and reports nothing any more
        assert wait_for(lambda: lanes_of(process.pid).get("evaluate") not in (None, evaluate), 30), \
            "the stalled lane was not restarted"
        assert not alive(evaluate)
    assert ".evaluate has not reported its progress" in (tmp_path / "worker.log").read_text()


def test_a_worker_told_the_wrong_partition_count_uses_the_brokers(stack: Stack, tmp_path: Path) -> None:
    """Motion admission waits for evaluation per zone.events partition: with the worker's own idea of
    the count (8) instead of the topic's (4), zone-b's motion was recorded as sent to partition 5,
    which evaluation never reports, and every later motion batch waited for it until the lane was restarted."""
    assert partition_of("zone-b", 8) != partition_of("zone-b", stack.partitions)
    watch, send = AlertWatch(stack), Producer(stack)
    try:
        with worker(stack, FAST_CITY, tmp_path / "worker.log", args=["--partitions", "8"]):
            send.send("devices.beeps", "bpr-b", beep("bpr-b"))  # P1 in zone-b, its home: cam-b's motion attaches
            opened = watch.wait(lambda a: bool(find(a, zone_id="zone-b", category="panic")), timeout_s=60)
            assert find(opened, zone_id="zone-b", category="panic")
            for _ in range(3):  # each its own motion batch, each within seconds
                snapshot = f"/snapshots/cam-b-{uid()}.jpg"

                def attached(alerts: Alerts, snapshot: str = snapshot) -> bool:
                    return any(a.get("snapshot") == snapshot for a in find(alerts, zone_id="zone-b"))
                send.send("cameras.motion", "cam-b", motion("cam-b", snapshot=snapshot))
                assert attached(watch.wait(attached, timeout_s=10))
    finally:
        watch.close()
        send.close()
