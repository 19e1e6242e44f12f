"""Admission on the real broker, Redis and a real worker process."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deploy.stack import Stack
from streams.dedupe import COUNTS
from tests.integration.alerts import AlertWatch
from tests.integration.support import Producer, TopicReader, now_ts, worker
from vocabulary import progress
from vocabulary.signing import signature

pytestmark = pytest.mark.integration

SIGNED_BEEPER_KEY = "00112233445566778899aabbccddeeff"  # examples/tigre: bpr-0002
IN_CENTRO = {"lat": -34.425, "lon": -58.58, "accuracy_m": 8}


@pytest.fixture(scope="module")
def running(stack: Stack, example_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with worker(stack, example_config, tmp_path_factory.mktemp("admission") / "worker.log"):
        yield stack


@pytest.fixture
def producer(running: Stack) -> Iterator[Producer]:
    made = Producer(running)
    yield made
    made.close()


def uid() -> str:
    return uuid.uuid4().hex[:16]


def beep(**changes: object) -> dict[str, object]:
    return {"event_id": uid(), "device_id": "bpr-0001", "ts": now_ts(), "kind": "panic", **changes}


def admitted(found: list[tuple[bytes | None, dict]]) -> list[tuple[bytes | None, dict]]:  # type: ignore[type-arg]
    """The admitted events in zone.events' messages (batches per zone; ticks and actions are left out), with their key."""
    return [(key, event) for key, value in found for event in value.get("events", [])]


def event_id(event: dict) -> str:  # type: ignore[type-arg]
    return (event.get("beep") or event.get("alarm") or event.get("motion"))["event_id"]  # type: ignore[no-any-return]


def admitted_ids(found: list[tuple[bytes | None, dict]]) -> list[str]:  # type: ignore[type-arg]
    return [event_id(event) for _, event in admitted(found)]


def test_valid_events_are_admitted_keyed_by_their_zone(running: Stack, producer: Producer) -> None:
    zone_events = TopicReader(running, "zone.events")
    panic = beep(location=IN_CENTRO)
    alarm = {"event_id": uid(), "panel_id": "acct-1003", "ts": now_ts(), "qualifier": 1, "code": 130,
             "group": 1, "zone": 4}
    motion = {"event_id": uid(), "camera_id": "cam-002", "ts": now_ts(), "motion_id": uid(), "phase": "start",
              "area_pct": 4.0, "boxes": [[0.1, 0.1, 0.2, 0.3]], "regions": []}
    watch = AlertWatch(running)
    producer.send("devices.beeps", "bpr-0001", panic)
    producer.send("devices.alarms", "acct-1003", alarm)
    # Daytime motion in tigre-delta matters only once an alert it attaches to is open there (the
    # burglary, P2): before that, admission drops it (streams.admission.MotionFilter).
    watch.wait(lambda a: any(alarm["event_id"] in x["event_ids"] for x in a.values()))
    watch.close()
    producer.send("cameras.motion", "cam-002", motion)
    found = admitted(zone_events.read_until(lambda f: len(admitted(f)) >= 3))
    by_id = {event_id(event): (key, event) for key, event in found}
    assert by_id[panic["event_id"]][0] == b"tigre-centro"
    assert by_id[panic["event_id"]][1]["source"] == {"kind": "beeper", "id": "bpr-0001"}
    assert by_id[alarm["event_id"]][0] == b"tigre-delta"
    assert by_id[motion["event_id"]][0] == b"tigre-delta"


def test_every_kind_of_bad_input_lands_in_rejected_with_raw_and_reason(running: Stack, producer: Producer) -> None:
    rejected = TopicReader(running, "events.rejected")
    zone_events = TopicReader(running, "zone.events")
    unsigned = beep(device_id="bpr-0002")
    forged = {**beep(device_id="bpr-0002"), "sig": "ab" * 32}
    huge = b'{"event_id": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    cases: list[tuple[bytes, str]] = [
        (b"\xff\xfe\xfa not utf-8", "malformed"),
        (b"[1, 2, 3]", "malformed"),
        (b'{"event_id": ', "malformed"),
        (huge, "malformed"),
        (json.dumps(beep(kind="boom")).encode(), "schema"),
        (json.dumps(beep(ts=12345)).encode(), "schema"),
        (json.dumps(beep(device_id="bpr-9999")).encode(), "unknown_device"),
        (json.dumps(unsigned).encode(), "bad_signature"),
        (json.dumps(forged).encode(), "bad_signature"),
        (json.dumps(beep(ts=now_ts(-301))).encode(), "stale"),
        (json.dumps(beep(ts=now_ts(+120))).encode(), "future"),
    ]
    for n, (raw, _) in enumerate(cases):
        producer.send("devices.beeps", f"case-{n}", raw)
    after = beep()  # nothing before it may stall or crash the agent
    producer.send("devices.beeps", "bpr-0001", after)

    found = rejected.read_until(lambda f: len(f) >= len(cases))
    by_key = {key.decode(): value for key, value in found if key and key.startswith(b"case-")}
    assert len(by_key) == len(cases), sorted(by_key)
    for n, (raw, reason) in enumerate(cases):
        kept = by_key[f"case-{n}"]
        assert kept["reason"] == reason, (n, kept["detail"])
        assert kept["topic"] == "devices.beeps" and kept["detail"]
        original = base64.b64decode(kept["raw"]) if kept.get("raw_b64") else kept["raw"].encode()
        assert original == raw, n
    assert after["event_id"] in admitted_ids(zone_events.read_until(
        lambda f: after["event_id"] in admitted_ids(f)))


def test_signed_events_from_keyed_devices_are_admitted(running: Stack, producer: Producer) -> None:
    zone_events = TopicReader(running, "zone.events")
    event = beep(device_id="bpr-0002", ts=now_ts().replace("Z", "+00:00"))
    event["sig"] = signature(SIGNED_BEEPER_KEY, "bpr-0002", str(event["event_id"]), str(event["ts"]), "panic")
    producer.send("devices.beeps", "bpr-0002", event)
    assert event["event_id"] in admitted_ids(zone_events.read_until(lambda f: event["event_id"] in admitted_ids(f)))


def test_a_duplicate_is_dropped_and_counted(running: Stack, producer: Producer) -> None:
    zone_events = TopicReader(running, "zone.events")
    counts = redis.Redis.from_url(running.redis_url)
    before = int(counts.hget(COUNTS, "beeper") or 0)
    outcomes_before = outcomes(counts)
    first, marker = beep(), beep()
    producer.send("devices.beeps", "bpr-0001", first)
    producer.send("devices.beeps", "bpr-0001", first)
    producer.send("devices.beeps", "bpr-0001", marker)  # same partition: read after both copies
    found = admitted_ids(zone_events.read_until(lambda f: marker["event_id"] in admitted_ids(f)))
    assert found.count(first["event_id"]) == 1
    assert int(counts.hget(COUNTS, "beeper") or 0) == before + 1
    deadline = time.monotonic() + 15  # counted for /metrics once the batch is acknowledged
    while outcomes(counts)["duplicate"] < outcomes_before["duplicate"] + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    grown = outcomes(counts)
    assert grown["duplicate"] == outcomes_before["duplicate"] + 1
    assert grown["admitted"] >= outcomes_before["admitted"] + 2


def outcomes(client: redis.Redis) -> dict[str, int]:
    """centinela_events_total's counts for devices.beeps, by outcome."""
    counted = client.hgetall(progress.EVENTS)
    found = {"admitted": 0, "duplicate": 0}
    for field, value in counted.items():
        topic, outcome = progress.counter_labels(field)
        if topic == "devices.beeps":
            found[outcome] = int(value)
    return found
