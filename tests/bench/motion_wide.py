"""The project's detector alone on a wider set of walker clips than bench_motion_recall.py: six
walkers (20 to 44 px, 1.5 to 8 px a frame) on vtest and highway, plus a held-out set (other
walker sizes, another noise seed, two conditions the detector was not tuned on: a dimmer night
and a noisier, more compressed day), and negatives of both with two more disturbances.

Run from the repository root: `python tests/bench/motion_wide.py` (about a minute; not part of
`make bench`). Prints, per condition and contrast, each clip's frames to detection (None: missed,
F: an episode before the walker), the median over the found and the count missed.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402

from tests.motion_clips import (  # noqa: E402
    DAY,
    FLICKER,
    FLICKER_DEEP,
    FLICKER_SLOW,
    LAMP,
    NEGATIVES,
    NIGHT,
    NIGHT_FLICKER,
    Clip,
    Condition,
    Walker,
    run,
)
from vocabulary.motion import MotionSettings  # noqa: E402

BACKDROPS = ("vtest", "highway")
WIDE = [Walker(24, 2, 0), Walker(32, 5, 0), Walker(44, 8, 0), Walker(28, 3, 0), Walker(36, 6, 0), Walker(20, 1.5, 0)]
HELD_OUT = [Walker(26, 2.5, 0), Walker(34, 4, 0), Walker(40, 7, 0)]
HELD_OUT_CONDITIONS = [DAY, NIGHT, FLICKER_SLOW, FLICKER_DEEP, NIGHT_FLICKER,
                       Condition("night-dim", gain=0.15, noise=4.0), Condition("day-noisy", noise=5.0, jpeg=50)]
HELD_OUT_NEGATIVES = [*HELD_OUT_CONDITIONS, Condition("rainy-night", gain=0.25, noise=3.5, snow=150),
                      Condition("flicker-fast", flicker_depth=0.25, flicker_period=1)]


def row(label: str, condition: Condition, contrast: float, walkers: list[Walker], seed: int) -> None:
    found: list[int | str | None] = []
    for name in BACKDROPS:
        for w in walkers:
            outcome = run(Clip(name, condition, Walker(w.height, w.speed, contrast), seed=seed))
            found.append("F" if outcome.false_starts else outcome.latency)
    latencies = [f for f in found if isinstance(f, int)]
    median = statistics.median(latencies) if latencies else None
    missed = sum(1 for f in found if f is None)
    print(f"{label:9} {condition.name:13} {contrast:>4g} median {median!s:>5} missed {missed}/{len(found)}  {found}",
          flush=True)


def main() -> int:
    cv2.setNumThreads(1)
    print(f"motion settings: {MotionSettings().model_dump()}")
    for condition in [DAY, NIGHT, FLICKER, LAMP, NIGHT_FLICKER]:
        for contrast in (-40, -20, -10, 20):
            row("wide", condition, contrast, WIDE, 7)
    for condition in HELD_OUT_CONDITIONS:
        for contrast in (-30, -15, 15):
            row("held-out", condition, contrast, HELD_OUT, 11)
    for label, conditions, seed in (("negatives", NEGATIVES, 7), ("held-out negatives", HELD_OUT_NEGATIVES, 11)):
        for name in (*BACKDROPS, "tree"):
            if label.startswith("held-out") and name == "tree":
                continue
            episodes = {c.name: len(run(Clip(name, c, None, 150, seed)).starts) for c in conditions}
            print(f"{label} {name}: episodes in 150 frames {({k: v for k, v in episodes.items() if v}) or 'none'}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
