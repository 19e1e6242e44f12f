"""Motion episodes: detections in, MotionEvents out (start, updates, end). Pure: no I/O, no clock.

An episode starts when `start_frames` of the last `start_window` analysed frames moved,
publishes an update at most every `update_interval_s` while motion goes on, and ends after
`quiet_s` without motion. The end event carries the episode's largest motion and every
region it touched. Snapshots are asked for, not written: at the start and whenever the
motion grows past its largest so far; the caller writes the frame under the given name.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from detectors.detector import Box, Detection
from vocabulary.events import MotionEvent
from vocabulary.motion import MotionSettings

PEAK_GROWTH = 1.2  # a new "largest motion" snapshot only when the motion is this much larger


@dataclass(frozen=True)
class Step:
    """What one frame changed: the events to publish and the snapshot to write first, if any."""

    events: list[MotionEvent] = field(default_factory=list)
    snapshot: str | None = None  # path to write this frame to, boxes drawn


@dataclass
class _Episode:
    motion_id: str
    last_motion: datetime
    last_event: datetime
    peak_area: float
    peak_boxes: list[Box]
    snapshot: str | None
    regions: list[str]
    sequence: int = 0


class EpisodeTracker:
    """One camera's episodes; feed it every analysed frame's detection with the frame's time."""

    def __init__(
        self,
        camera_id: str,
        settings: MotionSettings | None = None,
        snapshots: str | None = None,
        new_motion_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        """`snapshots` is the folder snapshot paths are named in; None asks for none."""
        self.camera_id = camera_id
        self._snapshots = snapshots
        self.settings = settings or MotionSettings()
        self._new_motion_id = new_motion_id
        self._recent: deque[bool] = deque(maxlen=self.settings.start_window)
        self._episode: _Episode | None = None

    @property
    def active(self) -> bool:
        return self._episode is not None

    def observe(self, detection: Detection, at: datetime) -> Step:
        self._recent.append(detection.moving)
        episode = self._episode
        if episode is None:
            if sum(self._recent) >= self.settings.start_frames and detection.moving:
                return self._start(detection, at)
            return Step()
        if not detection.moving:
            if (at - episode.last_motion).total_seconds() >= self.settings.quiet_s:
                return Step([self._end(at)])
            return Step()
        episode.last_motion = at
        episode.regions = _union(episode.regions, detection.regions)
        snapshot = None
        if detection.area_pct > episode.peak_area * PEAK_GROWTH:
            episode.peak_area, episode.peak_boxes = detection.area_pct, detection.boxes
            snapshot = self._snapshot_path(episode.motion_id, "peak")
            episode.snapshot = snapshot or episode.snapshot
        if (at - episode.last_event).total_seconds() >= self.settings.update_interval_s:
            episode.last_event = at
            return Step([self._event(episode, "update", at, detection.area_pct, detection.boxes)], snapshot)
        return Step([], snapshot)

    def close(self, at: datetime) -> Step:
        """The stream ended: end the episode in progress."""
        return Step([self._end(at)]) if self._episode else Step()

    def _start(self, detection: Detection, at: datetime) -> Step:
        motion_id = self._new_motion_id()
        snapshot = self._snapshot_path(motion_id, "start")
        self._episode = episode = _Episode(
            motion_id, at, at, detection.area_pct, detection.boxes, snapshot, list(detection.regions)
        )
        return Step([self._event(episode, "start", at, detection.area_pct, detection.boxes)], snapshot)

    def _snapshot_path(self, motion_id: str, moment: str) -> str | None:
        if self._snapshots is None:
            return None
        return f"{self._snapshots}/{self.camera_id}/{motion_id}-{moment}.jpg"

    def _end(self, at: datetime) -> MotionEvent:
        episode = self._episode
        assert episode is not None
        self._episode = None
        self._recent.clear()
        return self._event(episode, "end", at, episode.peak_area, episode.peak_boxes)

    def _event(self, episode: _Episode, phase: Literal["start", "update", "end"], at: datetime, area: float, boxes: list[Box]) -> MotionEvent:
        episode.sequence += 1
        return MotionEvent(
            event_id=f"{episode.motion_id}-{episode.sequence}",
            camera_id=self.camera_id,
            ts=at,
            motion_id=episode.motion_id,
            phase=phase,
            area_pct=min(100.0, area),
            boxes=[list(box) for box in boxes],
            regions=list(episode.regions),
            snapshot=episode.snapshot,
        )


def _union(seen: list[str], new: list[str]) -> list[str]:
    return seen + [name for name in new if name not in seen]
