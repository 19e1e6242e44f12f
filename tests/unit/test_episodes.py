"""The episode state machine: detections and times in, MotionEvents out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detectors.detector import Detection
from detectors.episodes import EpisodeTracker
from vocabulary.motion import MotionSettings

T0 = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
MOVING = Detection(boxes=[(0.1, 0.2, 0.1, 0.3)], area_pct=3.0, regions=["gate"])
BIGGER = Detection(boxes=[(0.1, 0.2, 0.4, 0.5)], area_pct=20.0, regions=["yard"])
STILL = Detection()


def run(frames: list[Detection], settings: MotionSettings | None = None, fps: float = 5.0,
        snapshots: str | None = "/snaps") -> list[tuple[int, str, str | None]]:
    tracker = EpisodeTracker("cam-1", settings or MotionSettings(), snapshots=snapshots, new_motion_id=lambda: "m1")
    seen = []
    for n, detection in enumerate(frames):
        step = tracker.observe(detection, T0 + timedelta(seconds=n / fps))
        seen += [(n, event.phase, step.snapshot) for event in step.events]
    return seen


def test_one_moving_frame_alone_starts_nothing() -> None:
    assert run([STILL, MOVING, STILL, STILL, MOVING, STILL, STILL]) == []


def test_two_moving_frames_in_three_start_an_episode_with_a_snapshot() -> None:
    assert run([STILL, MOVING, STILL, MOVING]) == [(3, "start", "/snaps/cam-1/m1-start.jpg")]


def test_updates_at_most_every_interval_then_end_after_quiet() -> None:
    settings = MotionSettings(update_interval_s=2.0, quiet_s=1.0)
    frames = [MOVING] * 26 + [STILL] * 10  # 5 fps: 5.2 s of motion, then 2 s still
    phases = [(n, phase) for n, phase, _ in run(frames, settings)]
    assert phases == [(1, "start"), (11, "update"), (21, "update"), (30, "end")]


def test_a_short_pause_does_not_end_the_episode() -> None:
    settings = MotionSettings(quiet_s=2.0, update_interval_s=100)
    frames = [MOVING] * 3 + [STILL] * 5 + [MOVING] * 3 + [STILL] * 10
    assert [phase for _, phase, _ in run(frames, settings)] == ["start", "end"]


def test_the_end_carries_the_largest_motion_its_snapshot_and_every_region() -> None:
    tracker = EpisodeTracker("cam-1", MotionSettings(quiet_s=1.5), snapshots="/s", new_motion_id=lambda: "m1")
    steps = [tracker.observe(d, T0 + timedelta(seconds=n)) for n, d in enumerate([MOVING, MOVING, BIGGER, STILL, STILL])]
    assert steps[2].snapshot == "/s/cam-1/m1-peak.jpg"
    end = steps[4].events[0]
    assert (end.phase, end.area_pct, end.snapshot) == ("end", 20.0, "/s/cam-1/m1-peak.jpg")
    assert end.boxes == [[0.1, 0.2, 0.4, 0.5]]
    assert end.regions == ["gate", "yard"]
    assert end.ts == T0 + timedelta(seconds=4)
    assert [e.event_id for s in steps for e in s.events] == ["m1-1", "m1-2"]


def test_close_ends_an_open_episode_and_nothing_otherwise() -> None:
    tracker = EpisodeTracker("cam-1", MotionSettings(), new_motion_id=lambda: "m1")
    assert tracker.close(T0).events == []
    tracker.observe(MOVING, T0)
    tracker.observe(MOVING, T0 + timedelta(seconds=0.2))
    closed = tracker.close(T0 + timedelta(seconds=1))
    assert [e.phase for e in closed.events] == ["end"] and not tracker.active


def test_without_a_snapshot_folder_no_snapshot_is_asked_for() -> None:
    assert run([MOVING, MOVING], snapshots=None) == [(1, "start", None)]


def test_relearning_frames_count_as_still() -> None:
    assert run([MOVING, Detection(relearning=True), Detection(relearning=True), MOVING]) == []
