"""Camera runner: K cameras as K threads in one process, or as K processes, which is faster?

Run from the repository root: `python tests/bench/bench_runner.py` (what `make bench` does).
Every camera plays OpenCV's vtest.avi (fetched by deploy/fetch-videos.sh), unpaced, analysed at
the file's own fps so every frame is decoded, detected and fed to the episode tracker: the real
per-camera work of detectors/runner.py (`CameraWatch.analyse`), events published to a no-op.
The clock runs from a barrier all cameras wait at (sources opened, detectors built) to the last
camera's end, so process start-up (paid once by a long-running runner) is reported apart.
OpenCV's thread count is left at its default, as detectors/runner.py leaves it; a second pass
with cv2.setNumThreads(1) in every camera's process shows whether OpenCV's own threads matter.
"""

from __future__ import annotations

import multiprocessing
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402

from alert_rules.city import Camera  # noqa: E402
from detectors.runner import CameraWatch  # noqa: E402
from detectors.sources import FrameSource  # noqa: E402
from tests.bench._report import report  # noqa: E402

CAMERAS = (1, 2, 4, 8)
FRAMES = 600  # analysed frames per camera (vtest.avi has 795 at 10 fps)
REPEATS = 5  # the median of each figure is reported: the machine is shared
VIDEOS = REPO / ".cache" / "videos"
DEFAULT_THREADS = cv2.getNumThreads()


def step(message: str) -> None:
    print(f"-- {message}", file=sys.stderr, flush=True)


def sample_video() -> Path:
    if not (VIDEOS / "vtest.avi").is_file():
        step(f"fetching sample videos into {VIDEOS}")
        subprocess.run(["bash", str(REPO / "deploy" / "fetch-videos.sh"), str(VIDEOS)], check=True)
    return VIDEOS / "vtest.avi"


def file_fps(video: Path) -> float:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps


def watch_camera(index: int, video: str, fps: float, frames: int, start: Any, opencv_threads: int | None) -> int:
    """One camera as the runner drives it, minus the pacing and Kafka; returns frames analysed."""
    if opencv_threads is not None:
        cv2.setNumThreads(opencv_threads)
    camera = Camera(id=f"cam{index}", zone="bench", source=video, fps=fps)
    watch = CameraWatch.for_camera(camera, None)
    source = FrameSource(video, fps, pace=False)
    published = 0

    def publish(_event: Any) -> None:
        nonlocal published
        published += 1

    start.wait()
    stream = source.frames()
    for frame in stream:
        for event in watch.analyse(frame):
            publish(event)
        if watch.analysed >= frames:
            break
    stream.close()
    for event in watch.close():
        publish(event)
    return watch.analysed


def run_threads(k: int, video: str, fps: float, opencv_threads: int | None) -> tuple[float, float]:
    """K cameras as threads of this process: (analysed frames per second, start-up seconds)."""
    if opencv_threads is not None:
        cv2.setNumThreads(opencv_threads)
    try:
        started = time.perf_counter()
        barrier = threading.Barrier(k + 1)
        analysed = [0] * k

        def camera(i: int) -> None:
            analysed[i] = watch_camera(i, video, fps, FRAMES, barrier, None)

        workers = [threading.Thread(target=camera, args=(i,), daemon=True) for i in range(k)]
        for worker in workers:
            worker.start()
        barrier.wait()
        ready = time.perf_counter()
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - ready
    finally:
        cv2.setNumThreads(DEFAULT_THREADS)
    return sum(analysed) / seconds, ready - started


def _camera_process(index: int, video: str, fps: float, frames: int, barrier: Any, results: Any,
                    opencv_threads: int | None) -> None:
    results.put(watch_camera(index, video, fps, frames, barrier, opencv_threads))


def run_processes(k: int, video: str, fps: float, opencv_threads: int | None) -> tuple[float, float]:
    """K cameras as K spawned processes: (analysed frames per second, start-up seconds)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process holding OpenCV's threads
    started = time.perf_counter()
    barrier = context.Barrier(k + 1)
    results = context.Queue()
    workers = [context.Process(target=_camera_process, args=(i, video, fps, FRAMES, barrier, results, opencv_threads))
               for i in range(k)]
    for worker in workers:
        worker.start()
    barrier.wait()
    ready = time.perf_counter()
    analysed = sum(results.get() for _ in range(k))
    seconds = time.perf_counter() - ready
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"camera process exited with {worker.exitcode}")
    return analysed / seconds, ready - started


def main() -> int:
    video = sample_video()
    fps = file_fps(video)
    figures: dict[str, Any] = {}
    for label, opencv_threads in ((f"opencv default ({DEFAULT_THREADS} threads)", None), ("opencv 1 thread", 1)):
        for k in CAMERAS:
            runs: dict[str, list[tuple[float, float]]] = {"threads": [], "processes": []}
            for repeat in range(REPEATS):
                for mode, run in (("threads", run_threads), ("processes", run_processes)):
                    fps_done, startup = run(k, str(video), fps, opencv_threads)
                    runs[mode].append((fps_done, startup))
                    step(f"{label}, K={k}, {mode}, run {repeat + 1}/{REPEATS}: {fps_done:.0f} frames/s "
                         f"(start-up {startup:.2f} s)")
            threads = statistics.median(r[0] for r in runs["threads"])
            processes = statistics.median(r[0] for r in runs["processes"])
            figures[f"{label} K={k} threads frames/s"] = round(threads, 1)
            figures[f"{label} K={k} processes frames/s"] = round(processes, 1)
            figures[f"{label} K={k} processes/threads"] = round(processes / threads, 2)
            figures[f"{label} K={k} process start-up s"] = round(statistics.median(r[1] for r in runs["processes"]), 2)
    settings = {"cameras": list(CAMERAS), "frames_per_camera": FRAMES, "repeats": REPEATS, "statistic": "median",
                "video": video.name, "analysis_fps": fps, "paced": False, "publish": "no-op",
                "opencv_threads_default": DEFAULT_THREADS, "runner_sets_opencv_threads": False,
                "process_start_method": "spawn"}
    report("runner", settings, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
