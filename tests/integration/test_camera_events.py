"""A video file played as a camera produces one motion episode's events on the real broker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from kafka import KafkaConsumer, TopicPartition

from alert_rules.city import Camera
from detectors.runner import KafkaPublisher, run_cameras
from vocabulary.events import MotionEvent
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.topics import MOTION, named

pytestmark = pytest.mark.integration
FPS = 10


def write_clip(path: Path) -> None:
    """1 s still, 2 s of a 40x80 px figure crossing the right half, 2 s still (320x240, MJPG)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 240))
    background = cv2.GaussianBlur(np.random.default_rng(3).integers(50, 130, (240, 320, 3), dtype=np.uint8), (7, 7), 0)
    for n in range(5 * FPS):
        frame = background.copy()
        if FPS <= n < 3 * FPS:
            x = 170 + 6 * (n - FPS)
            frame[100:180, x : x + 40] = (220, 210, 200)
        writer.write(frame)
    writer.release()


def consume(bootstrap: str, camera_id: str, deadline_s: float = 20.0) -> list[MotionEvent]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, **KafkaSecurity.from_environment().client())
    topic = named(MOTION)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or {0}])
    found: list[MotionEvent] = []
    ends = time.monotonic() + deadline_s
    try:
        while time.monotonic() < ends and not any(e.phase == "end" for e in found):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.key == camera_id.encode():
                        found.append(MotionEvent.model_validate(json.loads(record.value), strict=False))
    finally:
        consumer.close()
    return found


def test_a_video_file_publishes_start_and_end_of_one_episode(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clip = tmp_path / "walk.avi"
    write_clip(clip)
    camera = Camera(
        id="cam-it-1", zone="z1", source=str(clip), fps=5,
        regions={"right": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], "left": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
        motion={"quiet_s": 1.0, "relearn_frames": 3},
    )
    publisher = KafkaPublisher(stack.kafka)
    try:
        run_cameras([camera], publisher, threading.Event(), tmp_path / "snaps", health_s=60)
    finally:
        publisher.close()

    events = consume(stack.kafka, camera.id)
    assert [e.phase for e in events] == ["start", "end"]
    start, end = events
    assert start.motion_id == end.motion_id and start.event_id != end.event_id
    assert start.regions == ["right"] and end.regions == ["right"]
    x, y, w, h = start.boxes[0]
    assert x >= 0.5 and 0.35 < y < 0.5 and 0.1 < w < 0.35 and 0.25 < h < 0.45
    assert 2.0 < start.area_pct < 10.0
    assert 1.0 < (end.ts - start.ts).total_seconds() < 4.0  # 2 s of motion, then 1 s quiet
    assert start.snapshot and Path(start.snapshot).is_file()
    assert cv2.imread(start.snapshot) is not None
