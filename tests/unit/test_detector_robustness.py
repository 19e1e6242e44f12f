"""The detector on clips made from real CDnet highway frames: disturbances are no motion, a person is.

The road, where real cars pass, is masked (the hull of every ground-truth motion pixel), so
the clips hold the real swaying trees, fence and grass, plus one synthetic disturbance each.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.detector import MotionDetector
from detectors.episodes import EpisodeTracker
from vocabulary.motion import MotionSettings

HIGHWAY = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "cdnet2014-highway"
pytestmark = pytest.mark.skipif(
    not (HIGHWAY / "input").is_dir(), reason=f"CDnet highway dataset not found at {HIGHWAY}"
)

CLIP_FRAMES = 60
DISTURBED_FROM = 25  # frames before this are clean, so the background is learnt first
T0 = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
Perturb = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


@cache
def road_mask() -> list[list[float]]:
    """The frame-relative hull of every pixel the ground truth ever calls motion: the road."""
    seen = np.zeros((240, 320), np.uint8)
    for number in range(1, 1701, 5):
        truth = cv2.imread(str(HIGHWAY / "groundtruth" / f"gt{number:06d}.png"), cv2.IMREAD_GRAYSCALE)
        seen |= np.isin(truth, (50, 170, 255)).astype(np.uint8)
    hull = cv2.convexHull(cv2.findNonZero(seen)).reshape(-1, 2)
    assert cv2.contourArea(hull) < 0.8 * 320 * 240, "the road mask should leave the verges and trees"
    return (hull / [319, 239]).round(4).tolist()


@cache
def real_frames() -> tuple[np.ndarray, ...]:
    return tuple(cv2.imread(str(HIGHWAY / "input" / f"in{n:06d}.jpg")) for n in range(1, CLIP_FRAMES + 1))


def episodes_started(clip: list[np.ndarray], settings: MotionSettings | None = None) -> list[int]:
    """The analysed-frame numbers at which a motion episode starts, at 5 analysed fps."""
    settings = settings or MotionSettings()
    detector = MotionDetector(settings, masks=[road_mask()])
    tracker = EpisodeTracker("cam-test", settings, new_motion_id=lambda: "m")
    started = []
    for number, frame in enumerate(clip):
        step = tracker.observe(detector.detect(frame), T0 + timedelta(seconds=number / 5))
        started += [number for event in step.events if event.phase == "start"]
    return started


def disturbed(perturb: Perturb) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [
        perturb(frame, n, rng) if n >= DISTURBED_FROM else frame
        for n, frame in enumerate(real_frames())
    ]


def brighter(frame: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return cv2.convertScaleAbs(frame, alpha=1.4)


def infrared(frame: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(cv2.convertScaleAbs(grey, alpha=0.8, beta=40), cv2.COLOR_GRAY2BGR)


def sensor_noise(frame: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0, 12, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def rain(frame: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    streaks = np.zeros(frame.shape[:2], np.uint8)
    for x, y, length in zip(rng.integers(0, 320, 120), rng.integers(0, 240, 120), rng.integers(6, 16, 120), strict=True):
        cv2.line(streaks, (int(x), int(y)), (int(x) + 2, int(y + length)), 90, 1)
    return cv2.add(frame, cv2.merge([streaks] * 3))


def shake(frame: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    dx, dy = ((1, 0), (0, 1), (-1, 0), (0, -1))[n % 4]
    return cv2.warpAffine(frame, np.float32([[1, 0, dx], [0, 1, dy]]), (320, 240), borderMode=cv2.BORDER_REPLICATE)


def leaves(frame: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The tree canopy (top left) swayed by up to two pixels, on top of its real movement."""
    height, width = 120, 140
    phase = np.sin(n * 1.3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x = xs + (2.0 * phase * np.sin(ys / 9.0)).astype(np.float32)
    map_y = ys + (1.0 * phase * np.cos(xs / 11.0)).astype(np.float32)
    swayed = frame.copy()
    swayed[:height, :width] = cv2.remap(frame[:height, :width], map_x, map_y, cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REFLECT)
    return swayed


DISTURBANCES = [brighter, infrared, sensor_noise, rain, shake, leaves]


@pytest.mark.parametrize("perturb", DISTURBANCES, ids=lambda p: p.__name__)
def test_a_disturbance_starts_no_episode(perturb: Perturb) -> None:
    assert episodes_started(disturbed(perturb)) == []


@pytest.mark.parametrize("perturb", DISTURBANCES, ids=lambda p: p.__name__)
def test_the_disturbance_fools_a_bare_absdiff(perturb: Perturb) -> None:
    """Control: each disturbance is strong enough that a detector without its defences reports motion."""
    bare = MotionSettings(shake_pixels=0, noise_factor=0, open_size=0, close_size=0, min_area=0.0002,
                          compensate_exposure=False, global_change=1.0, blur_size=1, threshold=10)
    assert episodes_started(disturbed(perturb), bare)


PERSON_FROM = 30


def person_walking(frame: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A dark person-sized figure (10 x 26 px of 320 x 240) walking up the grass verge, beside the road."""
    walked = frame.copy()
    if n >= PERSON_FROM:
        x = 4 * (n - PERSON_FROM)
        feet = round(172 - 0.85 * x)
        cv2.rectangle(walked, (x, feet - 22), (x + 9, feet), (40, 35, 30), -1)
        cv2.circle(walked, (x + 5, feet - 26), 4, (60, 70, 90), -1)
    return walked


def test_a_person_entering_starts_an_episode_within_three_frames() -> None:
    rng = np.random.default_rng(7)
    clip = [person_walking(frame, n, rng) for n, frame in enumerate(real_frames())]
    started = episodes_started(clip)
    assert started, "the person started no episode"
    assert PERSON_FROM <= started[0] < PERSON_FROM + 3


def test_a_person_in_the_noise_and_rain_is_still_seen() -> None:
    rng = np.random.default_rng(7)
    clip = [
        person_walking(sensor_noise(rain(frame, n, rng), n, rng), n, rng) if n >= DISTURBED_FROM else frame
        for n, frame in enumerate(real_frames())
    ]
    started = episodes_started(clip)
    assert started and PERSON_FROM <= started[0] < PERSON_FROM + 3
