"""Duplicate memory outlives a worker: a restarted worker still drops a repeat."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from deploy.stack import Stack
from tests.integration.support import Producer, TopicReader, now_ts, worker
from tests.integration.test_admission import admitted_ids

pytestmark = pytest.mark.integration


def beep() -> dict[str, object]:
    return {"event_id": uuid.uuid4().hex[:16], "device_id": "bpr-0001", "ts": now_ts(), "kind": "panic"}


def test_a_duplicate_is_still_dropped_after_the_worker_restarts(
        stack: Stack, example_config: Path, tmp_path: Path) -> None:
    zone_events = TopicReader(stack, "zone.events")
    producer = Producer(stack)
    first = beep()
    with worker(stack, example_config, tmp_path / "first-worker.log"):
        producer.send("devices.beeps", "bpr-0001", first)
        found = zone_events.read_until(lambda f: first["event_id"] in admitted_ids(f), 45)
    assert first["event_id"] in admitted_ids(found)
    with worker(stack, example_config, tmp_path / "second-worker.log"):
        marker = beep()
        producer.send("devices.beeps", "bpr-0001", first)
        producer.send("devices.beeps", "bpr-0001", marker)
        found = admitted_ids(zone_events.read_until(lambda f: marker["event_id"] in admitted_ids(f), 45))
    producer.close()
    assert marker["event_id"] in found
    assert first["event_id"] not in found
