"""`centinela cameras run`, `centinela camera process FILE`, `centinela camera eval DATASET_DIR`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alert_rules.city import City
from vocabulary.errors import Unavailable, UsageError

DEFAULT_KAFKA = "127.0.0.1:9092"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cameras = sub.add_parser("cameras", help="run the configured cameras' motion detection")
    cameras_sub = cameras.add_subparsers(dest="cameras_command", required=True, metavar="ACTION")
    run = cameras_sub.add_parser("run", help="watch every camera with a source and publish its motion")
    run.add_argument("--config", help="configuration directory (default $CENTINELA_CONFIG)")
    run.add_argument("--kafka", default=os.environ.get("CENTINELA_KAFKA", DEFAULT_KAFKA), help="bootstrap host:port")
    run.add_argument("--snapshots", type=Path, help="folder for JPEG snapshots (default: none)")
    run.add_argument("--health-s", type=float, default=30.0, help="seconds between health lines per camera")
    run.set_defaults(run=run_cameras)

    camera = sub.add_parser("camera", help="one camera's motion detection, offline")
    camera_sub = camera.add_subparsers(dest="camera_command", required=True, metavar="ACTION")
    process = camera_sub.add_parser("process", help="detect motion episodes in a video file")
    process.add_argument("file", type=Path)
    process.add_argument("--json", action="store_true", help="print one MotionEvent JSON per line")
    process.add_argument("--config", help="configuration directory, for the camera's settings")
    process.add_argument("--camera", help="camera id whose settings, masks and regions to use")
    process.add_argument("--fps", type=float, help="frames analysed per second (default: the camera's, or 5)")
    process.add_argument("--snapshots", type=Path, help="folder for JPEG snapshots (default: none)")
    process.set_defaults(run=run_process)

    evaluate = camera_sub.add_parser("eval", help="score the detector on a CDnet 2014 sequence")
    evaluate.add_argument("dataset", type=Path, metavar="DATASET_DIR")
    evaluate.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                          help="override a motion setting, e.g. --set threshold=20 (repeatable)")
    evaluate.set_defaults(run=run_eval)


def _load_city(directory: str | None) -> City:
    from centinela.commands import load

    return load(directory).city


def run_cameras(args: argparse.Namespace) -> int:
    from detectors.runner import KafkaPublisher, run_cameras

    city = _load_city(args.config)
    cameras = [c for c in city.cameras if c.source is not None]
    if not cameras:
        raise UsageError("no camera in the configuration has a source")
    try:
        publisher = KafkaPublisher(args.kafka)
    except Exception as error:  # kafka-python raises several unrelated types for an unreachable broker
        raise Unavailable(f"cannot reach Kafka at {args.kafka}: {error}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"centinela: watching {len(cameras)} cameras, publishing to {args.kafka}", file=sys.stderr)
    try:
        run_cameras(cameras, publisher, stop, args.snapshots, args.health_s)
    finally:
        publisher.close()
    return 0


def run_process(args: argparse.Namespace) -> int:
    from alert_rules.city import Camera
    from detectors.runner import CameraWatch
    from detectors.sources import FrameSource

    if (args.config is None) != (args.camera is None):
        raise UsageError("--config and --camera go together")
    camera = Camera(id="file", zone="offline")
    if args.camera:
        city = _load_city(args.config)
        if args.camera not in city.camera_by_id:
            raise UsageError(f"no camera {args.camera!r} in {args.config}")
        camera = city.camera_by_id[args.camera]
    fps = args.fps or camera.fps
    if fps <= 0:
        raise UsageError("--fps must be positive")
    try:
        source = FrameSource(str(args.file), fps)
        watch = CameraWatch.for_camera(camera, args.snapshots)
    except ValidationError as error:
        raise UsageError(str(error).splitlines()[0]) from None
    show = _progress(source.frame_count)
    events = 0
    for frame in source.frames():
        show(frame.number + 1)
        for event in watch.analyse(frame):
            events += 1
            _print_event(event, args.json)
    for event in watch.close():
        events += 1
        _print_event(event, args.json)
    show(source.frame_count, final=True)
    ms = 1000 * watch.detect_seconds / max(1, watch.analysed)
    print(f"{args.file}: {watch.analysed} frames analysed at {fps:g} fps, {watch.episodes} episodes, "
          f"{events} events, {ms:.2f} ms/frame detecting", file=sys.stderr)
    return 0


def _print_event(event: Any, as_json: bool) -> None:
    if as_json:
        print(event.model_dump_json(), flush=True)
    else:
        print(f"{event.ts.isoformat(timespec='milliseconds')} {event.phase:6} {event.motion_id} "
              f"area {event.area_pct:.2f}% boxes {len(event.boxes)} regions {','.join(event.regions) or '-'}",
              flush=True)


def _progress(total: int) -> Callable[..., None]:
    """A progress bar on stderr, redrawn at most every 1 %."""
    shown = [-1]

    def show(done: int, final: bool = False) -> None:
        if total <= 0:
            return
        percent = min(100, 100 * done // total)
        if percent == shown[0]:
            if final:
                print(file=sys.stderr)
            return
        shown[0] = percent
        bar = "#" * (percent // 4)
        print(f"\r[{bar:25}] {percent:3}% {done}/{total} frames", end="\n" if final else "",
              file=sys.stderr, flush=True)

    return show


def run_eval(args: argparse.Namespace) -> int:
    from detectors.evaluate import evaluate
    from vocabulary.motion import MotionSettings

    overrides: dict[str, str] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item}: expected NAME=VALUE")
        overrides[name] = value
    try:
        settings = MotionSettings.model_validate(overrides, strict=False)
    except ValidationError as error:
        problem = error.errors()[0]
        raise UsageError(f"--set {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None
    show = _progress(0)
    bar: list[Callable[..., None]] = [show]

    def progress(done: int, total: int) -> None:
        if done == 1:
            bar[0] = _progress(total)
        bar[0](done, final=done == total)

    score = evaluate(args.dataset, settings, progress)
    figures = score.as_dict()
    print(f"{args.dataset}: F1 {figures['f1']:.4f}  precision {figures['precision']:.4f}  "
          f"recall {figures['recall']:.4f}  over {figures['scored_frames']} frames; "
          f"detector {figures['detector_fps']:.0f} fps")
    return 0
