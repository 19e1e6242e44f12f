"""Frame sources: a camera's RTSP/HTTP stream, a video file or a local device, at its analysis rate.

Frames beyond the analysis rate are grabbed and dropped without being converted, so a
25 fps camera analysed at 5 fps costs the decoding of its stream and little more.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from vocabulary.errors import UsageError
from vocabulary.redaction import redacted

DEFAULT_FILE_FPS = 25.0  # what a file that does not say its rate is taken to have


class SourceError(UsageError):
    """The source cannot be opened."""


@dataclass(frozen=True)
class Frame:
    at: datetime  # wall-clock time of the frame
    image: np.ndarray
    number: int  # position in the source, from 0


def is_file(source: str | int) -> bool:
    return isinstance(source, str) and "://" not in source


class FrameSource:
    """One opened source; iterate `frames()` for the frames to analyse.

    A file's frames are timed by their position in the file from the moment it was opened;
    with `pace` a file plays at its own rate, as a camera would, otherwise as fast as it decodes.
    A live source is timed by the clock and ends when the stream drops.
    """

    def __init__(self, source: str | int, fps: float, pace: bool = False) -> None:
        if is_file(source) and not Path(str(source)).is_file():
            raise SourceError(f"{redacted(source)}: no such video file")
        self.source = source
        self.analysis_fps = fps
        self.pace = pace
        self.capture = cv2.VideoCapture(source)
        if not self.capture.isOpened():
            raise SourceError(f"{redacted(source)}: cannot open")
        self.live = not is_file(source)
        self.source_fps = self.capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FILE_FPS
        self.frame_count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)) if not self.live else 0

    def frames(self) -> Iterator[Frame]:
        try:
            yield from self._live() if self.live else self._file()
        finally:
            self.capture.release()

    def _file(self) -> Iterator[Frame]:
        opened_wall, opened = datetime.now(UTC), time.monotonic()
        step = 1.0 / self.analysis_fps
        due = 0.0
        number = -1
        while self.capture.grab():
            number += 1
            position = number / self.source_fps
            if position + 1e-9 < due:
                continue
            due = max(due + step, position + step / 2)
            if self.pace:
                time.sleep(max(0.0, opened + position - time.monotonic()))
            ok, image = self.capture.retrieve()
            if ok:
                yield Frame(opened_wall + timedelta(seconds=position), image, number)

    def _live(self) -> Iterator[Frame]:
        step = 1.0 / self.analysis_fps
        due = time.monotonic()
        number = -1
        while self.capture.grab():
            number += 1
            now = time.monotonic()
            if now < due:
                continue
            due = max(due + step, now)
            ok, image = self.capture.retrieve()
            if ok:
                yield Frame(datetime.now(UTC), image, number)
