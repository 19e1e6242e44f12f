"""Motion recall: frames to detection and missed walkers by contrast and condition, beside false
episodes per hour of negative video, for the project's detector and OpenCV's MOG2 and KNN (through
the same pipeline and episode rule) on the same generated clips, in the same run.

Run from the repository root: `python tests/bench/bench_motion_recall.py` (what `make bench` does).
Clips: tests/motion_clips.py (vtest.avi, plus CDnet highway when ../shared/datasets is there).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402

from tests.bench._report import report  # noqa: E402
from tests.motion_clips import (  # noqa: E402
    ANALYSIS_FPS,
    DAY,
    FLICKER,
    LAMP,
    NEGATIVES,
    NIGHT,
    Clip,
    MissingData,
    Walker,
    backdrop,
    run,
)
from vocabulary.motion import MotionSettings  # noqa: E402

DETECTORS = {"centinela": MotionSettings(), "mog2": MotionSettings(background="mog2"),
             "knn": MotionSettings(background="knn")}
CONDITIONS = [DAY, NIGHT, FLICKER, LAMP]
CONTRASTS = [-40, -20, -10]
WALKERS = [Walker(24, 2, 0), Walker(32, 5, 0), Walker(44, 8, 0)]
NEGATIVE_FRAMES = 150


def backdrops() -> list[str]:
    names = ["vtest", "tree"]  # tree.avi is all swaying canopy: negatives only
    try:
        backdrop("highway")
        names.append("highway")
    except MissingData as missing:
        print(f"-- {missing}: highway clips left out", file=sys.stderr)
    return names


def main() -> int:
    cv2.setNumThreads(1)
    names = backdrops()
    figures: dict[str, object] = {}
    rows = []
    started = time.perf_counter()
    for detector, settings in DETECTORS.items():
        for condition in CONDITIONS:
            for contrast in CONTRASTS:
                latencies, missed, clips = [], 0, 0
                for name in [n for n in names if n != "tree"]:
                    for walker in WALKERS:
                        outcome = run(Clip(name, condition, Walker(walker.height, walker.speed, contrast)), settings)
                        clips += 1
                        if outcome.latency is None:
                            missed += 1
                        else:
                            latencies.append(outcome.latency)
                median = statistics.median(latencies) if latencies else None
                worst = max(latencies) if latencies else None
                rows.append((detector, condition.name, contrast, median, worst, missed, clips))
                figures[f"{detector} {condition.name} contrast {contrast}: median/worst frames, missed"] = (
                    f"{median}/{worst}, {missed}/{clips}")
        false_episodes: dict[str, int] = {}
        for name in names:
            episodes = 0
            for condition in NEGATIVES:
                outcome = run(Clip(name, condition, None, NEGATIVE_FRAMES), settings)
                episodes += len(outcome.starts)
                if outcome.starts:
                    false_episodes[f"{name}/{condition.name}"] = len(outcome.starts)
            hours = len(NEGATIVES) * NEGATIVE_FRAMES / ANALYSIS_FPS / 3600
            figures[f"{detector} false episodes per hour of negative video, {name}"] = round(episodes / hours, 1)
        figures[f"{detector} negative clips with episodes"] = ", ".join(
            f"{k} ({v})" for k, v in sorted(false_episodes.items())) or "none"
    print(f"{'detector':10} {'condition':13} {'contrast':>8} {'median':>6} {'worst':>5} {'missed':>7}")
    for detector, condition, contrast, median, worst, missed, clips in rows:
        print(f"{detector:10} {condition:13} {contrast:>8} {median!s:>6} {worst!s:>5} {missed:>3}/{clips}")
    settings = {"backdrops": names, "walker backdrops": [n for n in names if n != "tree"], "walkers (height px, speed px/frame)": [(w.height, w.speed) for w in WALKERS],
                "negative frames per clip": NEGATIVE_FRAMES, "negatives": [c.name for c in NEGATIVES],
                "analysis_fps": ANALYSIS_FPS, "frame": "320x240", "opencv_threads": 1,
                "seconds": round(time.perf_counter() - started, 1), "motion": MotionSettings().model_dump()}
    report("motion_recall", settings, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
