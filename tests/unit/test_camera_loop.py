"""A looping file source plays again when it ends; a plain one stops."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from alert_rules.city import Camera
from detectors.runner import CameraRunner

FRAMES = 6


def write_still_clip(path: Path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for _ in range(FRAMES):
        writer.write(np.full((48, 64, 3), 90, dtype=np.uint8))
    writer.release()


def test_a_looping_file_is_played_again_until_stopped(tmp_path: Path) -> None:
    clip = tmp_path / "still.avi"
    write_still_clip(clip)
    stop = threading.Event()
    runner = CameraRunner(Camera(id="c", zone="z", source=str(clip), fps=30, loop=True), lambda e: None, stop)
    runner.start()
    runner.join(timeout=1.0)
    stop.set()
    runner.join(timeout=5.0)
    assert not runner.is_alive()
    assert runner.watch.analysed > 2 * FRAMES


def test_a_plain_file_ends(tmp_path: Path) -> None:
    clip = tmp_path / "still.avi"
    write_still_clip(clip)
    runner = CameraRunner(Camera(id="c", zone="z", source=str(clip), fps=30), lambda e: None, threading.Event())
    runner.start()
    runner.join(timeout=5.0)
    assert not runner.is_alive() and runner.watch.analysed == FRAMES
