"""The camera runner: every configured camera watched in its own thread, motion published to Kafka.

Threads, not processes: OpenCV releases the GIL while it decodes and while it filters, so
one process keeps every core busy (tests/bench/bench_detector.py measures the cost per camera).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from alert_rules.city import Camera
from detectors.detector import MotionDetector
from detectors.episodes import EpisodeTracker
from detectors.snapshots import write_snapshot
from detectors.sources import Frame, FrameSource, SourceError
from vocabulary.events import MotionEvent
from vocabulary.motion import MotionSettings
from vocabulary.redaction import redacted

Publish = Callable[[MotionEvent], None]
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class CameraWatch:
    """One camera's analysis: frames in, motion events out (snapshots written on the way)."""

    def __init__(self, camera_id: str, settings: MotionSettings, detector: MotionDetector, snapshots: Path | None) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.detector = detector
        self.tracker = EpisodeTracker(camera_id, settings, snapshots=str(snapshots) if snapshots else None)
        self.analysed = 0
        self.episodes = 0
        self.detect_seconds = 0.0
        self.last_frame_at: datetime | None = None

    @classmethod
    def for_camera(cls, camera: Camera, snapshots: Path | None) -> CameraWatch:
        settings = camera.motion
        detector = MotionDetector(settings, masks=camera.masks, regions=camera.regions)
        return cls(camera.id, settings, detector, snapshots)

    def analyse(self, frame: Frame) -> list[MotionEvent]:
        started = time.perf_counter()
        detection = self.detector.detect(frame.image)
        self.detect_seconds += time.perf_counter() - started
        self.analysed += 1
        self.last_frame_at = frame.at
        step = self.tracker.observe(detection, frame.at)
        if step.snapshot:
            write_snapshot(step.snapshot, frame.image, detection.boxes, self.settings.snapshot_quality)
        self.episodes += sum(event.phase == "start" for event in step.events)
        return step.events

    def close(self) -> list[MotionEvent]:
        """End the episode in progress, at the last frame's time."""
        return self.tracker.close(self.last_frame_at or datetime.now(UTC)).events


class CameraRunner(threading.Thread):
    """Watches one camera until stopped, reopening a dropped stream with growing waits."""

    def __init__(
        self,
        camera: Camera,
        publish: Publish,
        stop: threading.Event,
        snapshots: Path | None = None,
        health_s: float = 30.0,
    ) -> None:
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera = camera
        self.publish = publish
        self.stop = stop
        self.health_s = health_s
        self.watch = CameraWatch.for_camera(camera, snapshots)
        self.state = "starting"
        self.reconnects = 0
        self._last_health = time.monotonic()
        self._analysed_at_health = 0

    def run(self) -> None:
        source = self.camera.source
        assert source is not None, "cameras without a source are not run"
        backoff = FIRST_BACKOFF_S
        while not self.stop.is_set():
            try:
                frames = FrameSource(source, self.camera.fps, pace=True)
            except SourceError as error:
                self.state = "offline"
                self._log(f"{error}; retrying in {backoff:.0f} s")
                self.stop.wait(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                self.reconnects += 1
                continue
            self.state = "ok"
            for frame in frames.frames():
                for event in self.watch.analyse(frame):
                    self.publish(event)
                backoff = FIRST_BACKOFF_S
                self._health()
                if self.stop.is_set():
                    break
            if not frames.live and self.camera.loop and not self.stop.is_set():
                self._log("end of file; playing it again")
                continue
            if not frames.live:
                self._log("end of file")
                break
            if not self.stop.is_set():
                self.state = "reconnecting"
                self._log(f"stream dropped; reconnecting in {backoff:.0f} s")
                self.stop.wait(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                self.reconnects += 1
        self.state = "stopped"
        for event in self.watch.close():
            self.publish(event)

    def health_line(self) -> str:
        now = time.monotonic()
        elapsed = max(1e-9, now - self._last_health)
        fps = (self.watch.analysed - self._analysed_at_health) / elapsed
        self._last_health, self._analysed_at_health = now, self.watch.analysed
        ms = 1000 * self.watch.detect_seconds / self.watch.analysed if self.watch.analysed else 0.0
        return (
            f"{self.state}, {fps:.1f} fps analysed (target {self.camera.fps:g}), {ms:.2f} ms/frame detecting, "
            f"{self.watch.analysed} frames, {self.watch.episodes} episodes, {self.reconnects} reconnects"
        )

    def _health(self) -> None:
        if time.monotonic() - self._last_health >= self.health_s:
            self._log(self.health_line())

    def _log(self, message: str) -> None:
        print(f"camera {self.camera.id}: {redacted(message)}", file=sys.stderr, flush=True)


class KafkaPublisher:
    """Motion events to the `cameras.motion` topic, keyed by camera."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaProducer

        from vocabulary.kafka_security import KafkaSecurity
        from vocabulary.topics import MOTION, named

        self.topic = named(MOTION)
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                       **KafkaSecurity.from_environment().producer())
        self._lock = threading.Lock()

    def __call__(self, event: MotionEvent) -> None:
        with self._lock:
            self._producer.send(self.topic, key=event.camera_id.encode(), value=event.model_dump_json().encode())

    def close(self) -> None:
        self._producer.flush(timeout=10)
        self._producer.close(timeout=10)


def run_cameras(cameras: list[Camera], publish: Publish, stop: threading.Event, snapshots: Path | None,
                health_s: float) -> None:
    """Run every camera with a source until `stop` is set or every file has ended."""
    runners = [CameraRunner(c, publish, stop, snapshots, health_s) for c in cameras if c.source is not None]
    for runner in runners:
        runner.start()
    while any(runner.is_alive() for runner in runners) and not stop.wait(0.5):
        pass
    stop.set()
    for runner in runners:
        runner.join(timeout=10)
