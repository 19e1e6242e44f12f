"""Clips for measuring motion recall, made at test time from real video backgrounds.

A synthetic walker (head, body, swinging legs, soft edges) crosses a real background:
OpenCV's vtest.avi (its median frame, the real pedestrians taken out), tree.avi (real swaying
leaves) or CDnet highway (real frames, the road masked). The walker's contrast is given in grey
levels of the delivered frame, against the mean of the background it covers. A condition then
lights the scene (night gain, flicker of the whole frame or of one lamp's pool, dusk, headlight
sweeps), adds sensor noise, snow specks or one-pixel jitter, and JPEG-encodes every frame as a
camera would. Negative clips are the same without a walker.

Shared by tests/unit/test_motion_recall.py and tests/bench/bench_motion_recall.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from detectors.detector import MotionDetector
from detectors.episodes import EpisodeTracker
from vocabulary.motion import MotionSettings

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / ".cache" / "videos"  # where `make videos` puts them
HIGHWAY = REPO.parent / "shared" / "datasets" / "cdnet2014-highway"
WIDTH, HEIGHT = 320, 240
ANALYSIS_FPS = 5.0
ENTRY = 20  # analysed frames of empty scene before the walker is half inside the frame
AFTER_ENTRY = 25  # analysed frames a positive clip runs after the entry
T0 = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
Polygon = list[list[float]]


class MissingData(RuntimeError):
    """A background's source video or dataset is not on this machine."""


@dataclass(frozen=True)
class Walker:
    height: int  # pixels of a 320x240 frame
    speed: float  # pixels per analysed frame
    contrast: float  # grey levels in the delivered frame; negative is darker than the background


@dataclass(frozen=True)
class Condition:
    name: str
    gain: float = 1.0  # scene brightness (night is about a fifth of daylight)
    noise: float = 2.0  # sensor noise sigma, grey levels of the delivered frame
    jpeg: int = 80  # JPEG quality every frame is encoded at
    flicker_depth: float = 0.0  # brightness swings by +/- this share
    flicker_period: int = 2  # analysed frames between swings
    lamp: bool = False  # flicker only in one lamp's pool of light (else the whole frame)
    dusk_to: float = 1.0  # brightness at the clip's end, fading from 1
    headlights: bool = False  # soft pools of light sweeping across the scene
    snow: int = 0  # bright specks a frame
    jitter: int = 0  # camera shake, pixels


@dataclass(frozen=True)
class Clip:
    backdrop: str  # "vtest", "tree" or "highway"
    condition: Condition
    walker: Walker | None = None
    frames: int = ENTRY + AFTER_ENTRY
    seed: int = 7

    @property
    def name(self) -> str:
        if self.walker is None:
            return f"{self.backdrop}/{self.condition.name}"
        w = self.walker
        return f"{self.backdrop}/{self.condition.name}/h{w.height}-v{w.speed:g}-c{w.contrast:g}"


@dataclass(frozen=True)
class Backdrop:
    frames: tuple[np.ndarray, ...]  # BGR 320x240, played back and forth
    masks: tuple[Polygon, ...]  # what the camera's configuration would mask (the highway's road)
    path: Callable[[float], float]  # the walker's feet row for its left edge at x

    def frame(self, number: int) -> np.ndarray:
        count = len(self.frames)
        if count == 1:
            return self.frames[0]
        cycle = number % (2 * count - 2)
        return self.frames[cycle if cycle < count else 2 * count - 2 - cycle]


def sample_video(name: str) -> Path:
    """OpenCV's sample video, fetched by deploy/fetch-videos.sh (as `make videos` does) when missing."""
    path = VIDEOS / name
    if not path.is_file():
        result = subprocess.run(["sh", str(REPO / "deploy" / "fetch-videos.sh"), str(VIDEOS)],
                                capture_output=True, text=True)
        if result.returncode or not path.is_file():
            raise MissingData(f"cannot fetch {name} with deploy/fetch-videos.sh: {result.stderr.strip()}")
    return path


def _read(path: Path, every: int, until: int) -> list[np.ndarray]:
    """Every `every`th frame of the first `until`, at 320x240."""
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    number = 0
    while number < until and capture.grab():
        if number % every == 0:
            ok, frame = capture.retrieve()
            if ok:
                frames.append(cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA))
        number += 1
    capture.release()
    return frames


@cache
def backdrop(name: str) -> Backdrop:
    if name == "vtest":
        # The median of frames across the video: the real pedestrians are gone, the scene stays.
        plate = np.median(np.stack(_read(sample_video("vtest.avi"), 16, 800)), axis=0).astype(np.uint8)
        return Backdrop((plate,), (), lambda x: 200 - 0.06 * x)
    if name == "tree":
        # tree.avi decodes to 68 frames at 15 fps; from frame 54 a hand waves in front of the lens.
        return Backdrop(tuple(_read(sample_video("tree.avi"), 2, 54)), (), lambda x: 232.0)
    if name == "highway":
        if not (HIGHWAY / "input").is_dir():
            raise MissingData(f"CDnet highway dataset not found at {HIGHWAY}")
        frames = tuple(cv2.imread(str(HIGHWAY / "input" / f"in{n:06d}.jpg")) for n in range(1, 301))
        return Backdrop(frames, (road_mask(),), lambda x: 172 - 0.85 * x)
    raise ValueError(f"unknown backdrop {name}")


@cache
def road_mask() -> Polygon:
    """The frame-relative hull of every pixel the highway's ground truth ever calls motion: the road."""
    seen = np.zeros((HEIGHT, WIDTH), np.uint8)
    for number in range(1, 1701, 5):
        truth = cv2.imread(str(HIGHWAY / "groundtruth" / f"gt{number:06d}.png"), cv2.IMREAD_GRAYSCALE)
        seen |= np.isin(truth, (50, 170, 255)).astype(np.uint8)
    hull = cv2.convexHull(cv2.findNonZero(seen)).reshape(-1, 2)
    return (hull / [WIDTH - 1, HEIGHT - 1]).round(4).tolist()


@cache
def silhouette(height: int, stride: int) -> np.ndarray:
    """A walking figure's coverage (0..1, soft edges), legs at one of four stride phases."""
    scale = 4
    h = height * scale
    w = max(3, round(0.4 * height)) * scale
    canvas = np.zeros((h, w), np.uint8)
    cx = w // 2
    head = round(0.075 * h)
    cv2.circle(canvas, (cx, head + 1), head, 255, -1)
    cv2.ellipse(canvas, (cx, round(0.37 * h)), (round(0.16 * h), round(0.2 * h)), 0, 0, 360, 255, -1)
    spread = (0.0, 0.09, 0.14, 0.09)[stride % 4] * h
    hip, leg = (cx, round(0.52 * h)), max(scale, round(0.07 * h))
    for side in (-1, 1):
        cv2.line(canvas, hip, (round(cx + side * spread), h - leg // 2 - 1), 255, leg)
    return cv2.resize(canvas, (w // scale, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def walker_box(clip: Clip, number: int) -> tuple[float, float, int, int] | None:
    """Left x, feet y, width and height of the walker in frame `number`; None before it appears."""
    walker = clip.walker
    if walker is None:
        return None
    width = silhouette(walker.height, 0).shape[1]
    x = -width / 2 + walker.speed * (number - ENTRY)  # half inside at ENTRY
    if x + width <= 0:
        return None
    return x, backdrop(clip.backdrop).path(max(0.0, x)), width, walker.height


def _illumination(clip: Clip, number: int, rng: np.random.Generator) -> np.ndarray | float:
    c = clip.condition
    light: np.ndarray | float = c.gain * (1 + (c.dusk_to - 1) * number / max(1, clip.frames - 1))
    if c.flicker_depth:
        swing = c.flicker_depth * (1 if (number // c.flicker_period) % 2 == 0 else -1)
        light = light * (1 + swing * _pool(WIDTH * 0.45, HEIGHT * 0.7, 70, 60)) if c.lamp else light * (1 + swing)
    if c.headlights:
        sweep = number % 24  # a car passes every 24 frames, sweeping for 12, left or right in turn
        if sweep < 12:
            x = -60 + 36 * sweep if (number // 24) % 2 == 0 else WIDTH + 60 - 36 * sweep
            light = light * (1 + 1.5 * _pool(x, HEIGHT * 0.65, 50, 35))
    return light


def _pool(x: float, y: float, sigma_x: float, sigma_y: float) -> np.ndarray:
    across = np.exp(-((np.arange(WIDTH, dtype=np.float32) - x) ** 2) / (2 * sigma_x**2))
    down = np.exp(-((np.arange(HEIGHT, dtype=np.float32) - y) ** 2) / (2 * sigma_y**2))
    return np.outer(down, across)[:, :, None]


def _composite(scene: np.ndarray, clip: Clip, number: int, light: np.ndarray | float) -> None:
    box = walker_box(clip, number)
    if box is None or clip.walker is None:
        return
    x, feet, width, height = box
    alpha = silhouette(height, int(number * clip.walker.speed / 6) % 4)
    left, top = int(np.floor(x)), round(feet) - height
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(WIDTH, left + width), min(HEIGHT, top + height)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - top : y1 - top, x0 - left : x1 - left, None]
    patch = scene[y0:y1, x0:x1]
    covered = float(a.sum())
    if covered < 1:
        return
    mean = (patch * a).sum(axis=(0, 1)) / covered
    # Contrast is asked in the delivered frame: divided by the light where the walker stands.
    local = light if isinstance(light, float) else float(light[min(HEIGHT - 1, round(feet)), x0 + (x1 - x0) // 2, 0])
    colour = np.clip(mean + clip.walker.contrast / max(local, 0.05), 0, 255)
    patch[:] = patch * (1 - a) + colour * a


def render(clip: Clip) -> Iterator[np.ndarray]:
    """The clip's frames, BGR 320x240 uint8, as the camera would deliver them."""
    c = clip.condition
    scenes = backdrop(clip.backdrop)
    rng = np.random.default_rng(clip.seed)
    cv2.setRNGSeed(clip.seed)
    noise = np.zeros((HEIGHT, WIDTH), np.float32)
    for number in range(clip.frames):
        scene = scenes.frame(number).astype(np.float32)
        if c.jitter:
            dx, dy = rng.integers(-c.jitter, c.jitter + 1, 2)
            scene = cv2.warpAffine(scene, np.float32([[1, 0, dx], [0, 1, dy]]), (WIDTH, HEIGHT),
                                   borderMode=cv2.BORDER_REPLICATE)
        light = _illumination(clip, number, rng)
        _composite(scene, clip, number, light)
        scene *= light
        if c.snow:
            xs, ys = rng.integers(0, WIDTH - 1, c.snow), rng.integers(0, HEIGHT - 1, c.snow)
            scene[ys, xs] += 90
            scene[ys + 1, xs] += 60
        if c.noise:
            cv2.randn(noise, 0.0, c.noise)
            scene += noise[:, :, None]
        frame = np.clip(scene, 0, 255).astype(np.uint8)
        _, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, c.jpeg])
        yield cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


@dataclass
class Outcome:
    """One clip through one detector: the analysed frames at which episodes started."""

    clip: Clip
    starts: list[int] = field(default_factory=list)

    @property
    def appeared(self) -> int | None:
        """The first frame showing any of the walker."""
        if self.clip.walker is None:
            return None
        return next(n for n in range(self.clip.frames) if walker_box(self.clip, n) is not None)

    @property
    def false_starts(self) -> int:
        """Episodes started before the walker showed (all of them, on a negative clip)."""
        appeared = self.appeared
        return len(self.starts) if appeared is None else sum(1 for s in self.starts if s < appeared)

    @property
    def latency(self) -> int | None:
        """Analysed frames from the walker's entry (half inside) to the first start; None if missed."""
        appeared = self.appeared
        if appeared is None:
            return None
        found = [s for s in self.starts if s >= appeared]
        return max(0, found[0] - ENTRY) if found else None


def run(clip: Clip, settings: MotionSettings | None = None) -> Outcome:
    settings = settings or MotionSettings()
    detector = MotionDetector(settings, masks=list(backdrop(clip.backdrop).masks))
    tracker = EpisodeTracker("cam-recall", settings, new_motion_id=lambda: "m")
    outcome = Outcome(clip)
    for number, frame in enumerate(render(clip)):
        step = tracker.observe(detector.detect(frame), T0 + timedelta(seconds=number / ANALYSIS_FPS))
        outcome.starts += [number for event in step.events if event.phase == "start"]
    return outcome


DAY = Condition("day")
NIGHT = Condition("night", gain=0.22, noise=3.5)
FLICKER = Condition("flicker", flicker_depth=0.18, flicker_period=2)
FLICKER_SLOW = Condition("flicker-slow", flicker_depth=0.15, flicker_period=4)
FLICKER_DEEP = Condition("flicker-deep", flicker_depth=0.20, flicker_period=3)
LAMP = Condition("lamp-flicker", flicker_depth=0.20, flicker_period=2, lamp=True)
NIGHT_FLICKER = Condition("night-flicker", gain=0.3, noise=3.0, flicker_depth=0.15, flicker_period=3)

NEGATIVES = [
    DAY,
    NIGHT,
    FLICKER,
    FLICKER_SLOW,
    FLICKER_DEEP,
    LAMP,
    Condition("dusk-fade", dusk_to=0.35),
    Condition("slow-dusk", dusk_to=0.15, noise=3.0),
    Condition("headlights", gain=0.22, noise=3.5, headlights=True),
    Condition("jpeg-blocking", jpeg=8),
    Condition("snow", snow=250),
    Condition("jitter", jitter=1),
]


def negative_clips(frames: int, backdrops: tuple[str, ...] = ("vtest", "tree", "highway")) -> list[Clip]:
    return [Clip(b, c, None, frames) for b in backdrops for c in NEGATIVES]


def walker_clips(conditions: list[Condition], walkers: list[Walker],
                 backdrops: tuple[str, ...] = ("vtest", "tree", "highway")) -> list[Clip]:
    return [Clip(b, c, w) for b in backdrops for c in conditions for w in walkers]


def with_condition(clip: Clip, condition: Condition) -> Clip:
    return replace(clip, condition=condition)
