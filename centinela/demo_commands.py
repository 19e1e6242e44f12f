"""`centinela simulate` (simulated devices against any broker) and `centinela demo` (the whole
system on the embedded stack with the bundled city and the simulator)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from centinela.commands import DEFAULT_HTTP, load, own_data, run_system
from centinela.device_links import ReceiverSink, wait_for_ingestion
from centinela.history_commands import import_demo_history
from deploy.postgres import DEFAULT_PORT as POSTGRES_PORT
from deploy.simulate import DEMO_CITY, checkins_soon
from vocabulary.errors import Unavailable, UsageError

if TYPE_CHECKING:
    from alert_rules.city import Camera
    from deploy.scenarios import Step
    from deploy.simulate import Outgoing, Traffic

REPO = Path(__file__).resolve().parent.parent
DEFAULT_KAFKA = "127.0.0.1:9092"
PACE_S = 0.1
RECEIVER_WAIT_S = 60.0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from deploy.scenarios import SCENARIOS

    simulate = sub.add_parser("simulate", help="simulated beepers, alarm panels and camera motion, published to Kafka")
    simulate.add_argument("--kafka", default=os.environ.get("CENTINELA_KAFKA", DEFAULT_KAFKA), help="bootstrap host:port")
    simulate.add_argument("--config", help="configuration directory with the devices and keys (else CENTINELA_CONFIG)")
    simulate.add_argument("--rate", type=float, default=2.0, help="background events per second (0: scenario only)")
    simulate.add_argument("--scenario", choices=sorted(SCENARIOS), help="scripted incidents played from the start")
    simulate.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    simulate.add_argument("--seed", type=int, default=7, help="seed of every random choice")
    simulate.add_argument("--snapshots", type=Path, help="folder for simulated motion snapshots (default: none)")
    simulate.add_argument("--direct", action="store_true",
                          help="publish every event to Kafka instead of through the receivers (DC-09, HTTP)")
    simulate.add_argument("--dc09", default=os.environ.get("CENTINELA_DC09", "127.0.0.1:9020"),
                          help="the receiver's DC-09 host:port, for the panels")
    simulate.add_argument("--ingest", default=os.environ.get("CENTINELA_INGEST", "127.0.0.1:8090"),
                          help="the receiver's HTTP ingestion host:port, for beepers with a key")
    simulate.set_defaults(run=run_simulate)

    demo = sub.add_parser("demo", help="the whole system on this machine with a simulated city (Tigre)")
    demo.add_argument("--scenario", choices=sorted(SCENARIOS), default="every-category",
                      help="scripted incidents the simulator plays first (default: every-category)")
    demo.add_argument("--rate", type=float, default=2.0, help="background device events per second")
    demo.add_argument("--duration", type=float, help="stop everything after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--data", default=".centinela/demo", help="where Redis, the logs and the demo's config live")
    demo.add_argument("--postgres-port", type=int, default=POSTGRES_PORT, help="the embedded PostgreSQL's port")
    demo.set_defaults(run=run_demo)


# -- simulate --------------------------------------------------------------------------------


class KafkaSink:
    """Publishes the simulator's messages; writes a simulated snapshot before its motion event."""

    def __init__(self, bootstrap: str, cameras: dict[str, Camera]) -> None:
        from kafka import KafkaProducer

        from vocabulary.kafka_security import KafkaSecurity

        self._producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                       **KafkaSecurity.from_environment().producer())
        self._cameras = cameras
        self.failed = 0

    def send(self, message: Outgoing) -> None:
        from vocabulary.topics import named

        if message.snapshot:
            self._write_snapshot(message.snapshot, message.value["camera_id"], message.value["boxes"])
        future = self._producer.send(named(message.topic), key=message.key.encode(),
                                     value=json.dumps(message.value).encode())
        future.add_errback(self._failed)

    def close(self) -> None:
        self._producer.flush(timeout=10)
        self._producer.close(timeout=10)

    def _failed(self, _error: Exception) -> None:
        self.failed += 1

    def _write_snapshot(self, path: str, camera_id: str, boxes: list[list[float]]) -> None:
        """A frame of the camera's own video when it is on disk, else a grey test card."""
        import cv2
        import numpy as np

        from detectors.snapshots import write_snapshot

        frame = None
        source = getattr(self._cameras.get(camera_id), "source", None)
        if isinstance(source, str) and Path(source).is_file():
            capture = cv2.VideoCapture(source)
            ok, image = capture.read()
            capture.release()
            frame = image if ok else None
        if frame is None:
            frame = np.tile(np.linspace(60, 190, 640, dtype=np.uint8), (360, 1))
        write_snapshot(path, frame, [(x, y, w, h) for x, y, w, h in boxes])


def run_simulate(args: argparse.Namespace) -> int:
    from deploy.scenarios import script
    from deploy.simulate import Traffic

    if args.rate < 0:
        raise UsageError("--rate must be 0 or more")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    config = load(args.config)
    city = config.city
    start = datetime.now(UTC)
    snapshots = str(args.snapshots.resolve()) if args.snapshots else None
    traffic = Traffic(city, args.seed, run_tag=f"{int(start.timestamp() * 1000):x}", start=start, snapshots=snapshots)
    steps = deque(script(args.scenario, city) if args.scenario else [])
    receivers = None if args.direct else _receivers(args)
    try:
        kafka = KafkaSink(args.kafka, city.camera_by_id)
    except Exception as error:  # kafka-python raises several unrelated types for an unreachable broker
        raise Unavailable(f"cannot reach Kafka at {args.kafka}: {error}") from None
    sink: KafkaSink | ReceiverSink = kafka
    if receivers is not None:
        dc09, ingest_url = receivers
        sink = ReceiverSink(city, kafka, dc09, ingest_url, first_sequence=int(start.timestamp()) % 9999)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    say(f"{len(city.beepers)} beepers, {len(city.panels)} panels ({len(traffic.silent)} left silent), "
        f"{args.rate:g} events/s" + (f", scenario {args.scenario} ({len(steps)} steps)" if args.scenario else ""))
    try:
        sent = _publish_until(stop, traffic, steps, sink, args.rate, args.duration)
    finally:
        sink.close()
    say(f"stopped: sent {sum(sent.values())} ({_counts(sent)}), {sink.failed} failed")
    if isinstance(sink, ReceiverSink):
        say("by path: " + ", ".join(f"{path} {count}" for path, count in sorted(sink.counts.items())))
    return 0


def _receivers(args: argparse.Namespace) -> tuple[tuple[str, int], str]:
    """The receiver's DC-09 address and ingestion URL, once it answers (it may start with us)."""
    from vocabulary.listening import parse_address

    dc09 = parse_address(args.dc09, "--dc09")
    ingest_host, ingest_port = parse_address(args.ingest, "--ingest")
    ingest_url = f"http://{ingest_host}:{ingest_port}"
    if not wait_for_ingestion(ingest_url, RECEIVER_WAIT_S):
        say(f"the receiver does not answer at {ingest_url} yet; its devices will retry")
    return dc09, ingest_url


def _publish_until(stop: threading.Event, traffic: Traffic, steps: deque[Step], sink: KafkaSink | ReceiverSink,
                   rate: float, duration: float | None) -> Counter[str]:
    sent: Counter[str] = Counter()
    total_steps = len(steps)
    began = last = time.monotonic()
    credit = 0.0
    next_progress = 1.0
    while not stop.is_set():
        moment = time.monotonic()
        elapsed = moment - began
        if duration is not None and elapsed >= duration:
            break
        now = datetime.now(UTC)
        batch: list[Outgoing] = []
        while steps and steps[0].at_s <= elapsed:
            step = steps.popleft()
            say(f"step {total_steps - len(steps)}/{total_steps} at {step.at_s:g} s: {step.label}")
            batch += step.build(traffic, now)
        batch += traffic.due(now)
        credit += rate * (moment - last)
        last = moment
        while credit >= 1:
            credit -= 1
            batch += traffic.background(now, incidents=not steps)
        for message in batch:
            sink.send(message)
            sent[message.kind] += 1
        if elapsed >= next_progress:
            next_progress += 1.0
            say(f"{elapsed:.0f} s: sent {sum(sent.values())} ({_counts(sent)})"
                + (f", {sink.failed} failed" if sink.failed else ""))
        stop.wait(PACE_S)
    return sent


def _counts(sent: Counter[str]) -> str:
    return ", ".join(f"{kind} {sent[kind]}" for kind in ("beeps", "alarms", "motion"))


def say(line: str) -> None:
    print(f"simulate: {line}", file=sys.stderr, flush=True)


# -- demo ------------------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    if args.rate < 0:
        raise UsageError("--rate must be 0 or more")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be positive")
    data = own_data(Path(args.data))  # before the city's copy is written into it
    directory, missing = demo_config(data / "config")
    config = load(directory)
    if missing:
        print(f"cameras  no video for {', '.join(missing)}: those run without a source "
              "(fetch the videos with `make videos`)")
    simulator = [sys.executable, "-m", "centinela", "simulate", "--config", str(directory), "--rate", str(args.rate),
                 "--snapshots", str(data / "snapshots"), "--scenario", args.scenario]
    http = os.environ.get("CENTINELA_HTTP", DEFAULT_HTTP)
    operator = next((t.token for t in config.city.tokens if t.role == "operator"), "")
    banner = "\n".join([
        f"console  http://{http}/  (sign in with the demo operator token: {operator})",
        "tokens   " + ", ".join(f"{t.role} {t.token}" for t in config.city.tokens),
        f"demo     scenario {args.scenario}, {args.rate:g} background events/s; simulator log: {data}/simulator.log",
    ])
    import_demo_history(data, args.postgres_port, directory)  # a year of history for the Reports view, at the first start
    if args.duration is not None:
        stopper = threading.Timer(args.duration, os.kill, (os.getpid(), signal.SIGTERM))
        stopper.daemon = True
        stopper.start()
    # The firefighters' end of CAP delivery (deploy/city/partners.yaml): it checks and logs what it gets.
    firefighters = [sys.executable, "-m", "centinela", "partners", "listen", "--config", str(directory),
                    "--partner", "bomberos", "--listen", "127.0.0.1:8091", "--save", str(data / "cap")]
    return run_system(config, workers=1, partitions=4, data=data, banner=banner, postgres_port=args.postgres_port,
                      extra=[("simulator", simulator, "device"), ("firefighters", firefighters, None)])


def demo_config(target: Path) -> tuple[Path, list[str]]:
    """Copy the bundled city to `target`, camera sources made absolute; cameras whose video
    is missing lose their source; welfare check-ins fall due a few minutes from now. Returns
    the directory and the cameras without video; the directory is its owner's alone."""
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o700)  # a copy left by an older demo may be open to all: the city's phones and passcodes are here
    missing: list[str] = []
    zones = yaml.safe_load((DEMO_CITY / "zones.yaml").read_text(encoding="utf-8"))["zones"]
    timezones = {zone["id"]: zone.get("timezone", "UTC") for zone in zones}
    for path in sorted(DEMO_CITY.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text) or {}
        if checkins_soon(document, timezones, datetime.now(UTC)):
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        if "cameras" in document:
            for camera in document["cameras"]:
                video = _video(camera.get("source"))
                if video is None:
                    camera.pop("source", None)
                    missing.append(camera["id"])
                else:
                    camera["source"] = str(video)
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        (target / path.name).write_text(text, encoding="utf-8")
    return target, missing


def _video(source: object) -> Path | None:
    """A relative source is looked up in the current directory, then in the repository."""
    if not isinstance(source, str):
        return None
    for base in (Path.cwd(), REPO):
        candidate = (base / source).resolve()
        if candidate.is_file():
            return candidate
    return None
