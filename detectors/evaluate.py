"""Scoring the detector on a CDnet 2014 sequence: pixel precision, recall and F1, and speed.

CDnet's rules: over the frames of `temporalROI.txt`, ground-truth pixels 255 are motion,
0 and 50 (shadow) are not, 85 (outside the region of interest) and 170 (unknown) are not
counted. The detector's working-size mask is scaled up to the frame size to be scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detectors.detector import MotionDetector
from vocabulary.errors import UsageError
from vocabulary.motion import MotionSettings


class DatasetError(UsageError):
    """The folder is not a CDnet sequence."""


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int
    frames: int
    scored_frames: int
    detector_seconds: float

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.detector_seconds if self.detector_seconds else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "f1": round(self.f1, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "frames": self.frames,
            "scored_frames": self.scored_frames,
            "detector_fps": round(self.fps, 1),
        }


@dataclass(frozen=True)
class Sequence:
    root: Path
    first_scored: int
    last_scored: int
    frame_count: int

    @classmethod
    def open(cls, root: Path) -> Sequence:
        roi = root / "temporalROI.txt"
        if not (root / "input").is_dir() or not (root / "groundtruth").is_dir() or not roi.is_file():
            raise DatasetError(f"{root} is not a CDnet sequence (needs input/, groundtruth/ and temporalROI.txt)")
        try:
            first, last = (int(word) for word in roi.read_text().split()[:2])
        except ValueError:
            raise DatasetError(f"{roi} should hold two frame numbers") from None
        count = len(list((root / "input").glob("in*.jpg")))
        if count < last:
            raise DatasetError(f"{root / 'input'} has {count} frames, temporalROI.txt names up to {last}")
        return cls(root, first, last, last)

    def frame(self, number: int) -> np.ndarray:
        return self._read(self.root / "input" / f"in{number:06d}.jpg", cv2.IMREAD_COLOR)

    def truth(self, number: int) -> np.ndarray:
        return self._read(self.root / "groundtruth" / f"gt{number:06d}.png", cv2.IMREAD_GRAYSCALE)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        for number in range(1, self.frame_count + 1):
            yield number, self.frame(number)

    @staticmethod
    def _read(path: Path, flags: int) -> np.ndarray:
        image = cv2.imread(str(path), flags)
        if image is None:
            raise DatasetError(f"cannot read {path}")
        return image


def evaluate(
    root: Path,
    settings: MotionSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Score:
    """Run a fresh detector over the whole sequence and score the temporal region of interest."""
    sequence = Sequence.open(root)
    detector = MotionDetector(settings)
    tp = fp = fn = scored = 0
    spent = 0.0
    for number, frame in sequence.frames():
        started = time.perf_counter()
        detection = detector.detect(frame)
        spent += time.perf_counter() - started
        if progress:
            progress(number, sequence.frame_count)
        if not sequence.first_scored <= number <= sequence.last_scored:
            continue
        truth = sequence.truth(number)
        height, width = truth.shape
        if detection.mask is None:
            found = np.zeros((height, width), bool)
        else:
            found = cv2.resize(detection.mask, (width, height), interpolation=cv2.INTER_NEAREST) > 0
        positive = truth == 255
        negative = (truth == 0) | (truth == 50)
        tp += int(np.count_nonzero(found & positive))
        fp += int(np.count_nonzero(found & negative))
        fn += int(np.count_nonzero(~found & positive))
        scored += 1
    return Score(tp, fp, fn, sequence.frame_count, scored, spent)
