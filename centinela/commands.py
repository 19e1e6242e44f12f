"""`centinela up`, `worker`, `schema` and `config check`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from centinela.config import Config, config_dir, load_config
from streams.lanes import LANES
from vocabulary.errors import UsageError
from vocabulary.listening import parse_address

DEFAULT_KAFKA_PORT = 9092
DEFAULT_REDIS_PORT = 6390  # not 6379, so a system Redis is never mistaken for ours
DEFAULT_POSTGRES_PORT = 5433  # not 5432, so a system PostgreSQL is never mistaken for ours
DEFAULT_HTTP = "127.0.0.1:8080"
# Camera work (video analysis, motion admission) yields the CPU to panics and alarms: measured
# under a 5,000 events/s motion flood, beep-to-alert p50 fell from ~700 ms at niceness 5 to ~75-240 ms.
CAMERA_NICENESS = 19


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser("up", help="run the whole backend on this machine")
    up.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    up.add_argument("--workers", type=int, default=1, help="stream workers (at most the partition count)")
    up.add_argument("--partitions", type=int, default=4, help="partitions per topic when the broker is ours")
    up.add_argument("--data", default=".centinela", help="where the embedded broker, Redis and the logs live")
    up.add_argument("--broker-port", type=int, default=DEFAULT_KAFKA_PORT,
                    help="the embedded broker's client port (its controller listens on the next free one)")
    up.add_argument("--brokers", type=int, default=1, choices=(1, 3), help="embedded Kafka nodes (3: a cluster)")
    up.add_argument("--redis-port", type=int, default=DEFAULT_REDIS_PORT, help="the embedded Redis's port")
    up.add_argument("--postgres-port", type=int, default=DEFAULT_POSTGRES_PORT, help="the embedded PostgreSQL's port")
    up.set_defaults(run=run_up)

    worker = sub.add_parser("worker", help="run one stream worker against CENTINELA_KAFKA and CENTINELA_REDIS")
    worker.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    worker.add_argument("--web-port", type=int, default=6066, help="the Faust worker's own port on 127.0.0.1")
    worker.add_argument("--partitions", type=int, default=4,
                        help="partitions per topic if the worker creates zone.events; an existing topic's count wins")
    worker.add_argument("--lane", choices=LANES,
                        help="run one lane in this process (default: all three, each in its own process)")
    worker.set_defaults(run=run_worker)

    center = sub.add_parser("center", help="run the monitoring center (HTTP) against CENTINELA_KAFKA and CENTINELA_REDIS")
    center.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG)")
    center.add_argument("--snapshots", type=Path, help="the detectors' snapshot folder, served to operators")
    center.set_defaults(run=run_center)

    schema = sub.add_parser("schema", help="print the JSON Schemas of the contract's messages")
    schema.add_argument("name", nargs="?", help="PanicBeep, AlarmSignal, MotionEvent, Alert or Rejected")
    schema.set_defaults(run=run_schema)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = config_sub.add_parser("check", help="validate a configuration directory")
    check.add_argument("directory")
    check.set_defaults(run=run_config_check)


def load(given: str | Path | None) -> Config:
    """The configuration of --config or CENTINELA_CONFIG; ConfigError lists every problem."""
    return load_config(config_dir(given))


def running_servers(who: str) -> tuple[str, str]:
    """CENTINELA_KAFKA and CENTINELA_REDIS, which a worker or a center alone needs."""
    kafka, redis_url = os.environ.get("CENTINELA_KAFKA"), os.environ.get("CENTINELA_REDIS")
    if not kafka or not redis_url:
        raise UsageError(f"{who} needs CENTINELA_KAFKA (host:port) and CENTINELA_REDIS (redis://host:port/db)")
    return kafka, redis_url


def own_data(data: Path) -> Path:
    """`data`, resolved and private to its owner, like everything this process creates from now on
    (logs, snapshots, the demo's copy of the city with its phones and passcodes)."""
    from deploy.stack import make_private

    os.umask(0o077)
    data = data.resolve()
    make_private(data)
    return data


def http_address() -> tuple[str, int]:
    return parse_address(os.environ.get("CENTINELA_HTTP", DEFAULT_HTTP), "CENTINELA_HTTP")


def run_config_check(args: argparse.Namespace) -> int:
    config = load(args.directory)
    city = config.city
    print(f"{args.directory}: ok: {len(city.zones)} zones, {len(city.beepers)} beepers, "
          f"{len(city.panels)} panels, {len(city.cameras)} cameras, {len(city.tokens)} tokens")
    return 0


def run_schema(args: argparse.Namespace) -> int:
    from vocabulary import events

    models = {m.__name__: m for m in (events.PanicBeep, events.AlarmSignal, events.MotionEvent,
                                       events.Alert, events.Rejected)}
    if args.name and args.name not in models:
        raise UsageError(f"unknown message {args.name!r}; one of {', '.join(models)}")
    chosen = {args.name: models[args.name]} if args.name else models
    schemas = {name: model.model_json_schema(mode="serialization" if name in ("Alert", "Rejected") else "validation")
               for name, model in chosen.items()}
    print(json.dumps(schemas[args.name] if args.name else schemas, indent=2))
    return 0


def run_worker(args: argparse.Namespace) -> int:
    config = load(args.config)
    kafka, redis_url = running_servers("a worker")
    if args.lane is None:
        return run_lanes(args, redis_url, config.health.stall_s)
    import faust

    from deploy.stack import topic_partitions
    from streams.app import create_app
    from vocabulary import topics

    # Which partition holds a zone is the broker's count, whatever this worker was told.
    partitions = topic_partitions(kafka, topics.named(topics.ZONE_EVENTS)) or args.partitions
    # Faust makes empty table folders even though the lanes keep their state in Redis: one shared place, not the cwd.
    datadir = Path(tempfile.gettempdir()) / f"centinela-faust-{os.getuid()}"
    datadir.mkdir(mode=0o700, exist_ok=True)
    app = create_app(config.city, config.rules, config.admission, kafka, redis_url, web_port=args.web_port,
                     partitions=partitions, lane=args.lane, datadir=datadir)
    faust.Worker(app, loglevel="INFO", quiet=True).execute_from_commandline()
    return 0


def run_lanes(args: argparse.Namespace, redis_url: str, stall_s: float) -> int:
    """A worker: each lane in its own process, restarted whenever it dies or stalls, all stopped together."""
    from deploy.stack import free_port
    from deploy.supervisor import Child, Supervisor
    from streams.health import LaneWatch

    watch = LaneWatch(redis_url, stall_s)
    name = os.environ.get("CENTINELA_PROCESS_NAME") or f"worker@{os.getpid()}"
    # Stops within the 10 s that `centinela up` gives a worker.
    supervisor = Supervisor(stop_timeout_s=7.0, redis_url=redis_url)
    try:
        for lane in LANES:
            web_port = args.web_port if lane == "urgent" else free_port()
            argv = [sys.executable, "-m", "centinela", "worker", "--lane", lane, "--web-port", str(web_port),
                    "--partitions", str(args.partitions), *(["--config", args.config] if args.config else [])]
            niceness = CAMERA_NICENESS if lane == "motion" else 0
            supervisor.start(Child(f"{name}.{lane}", argv, env={}, session=False, niceness=niceness,
                                   stalled=watch.stalled))
        return supervisor.run_until_signal()
    finally:
        supervisor.stop()


def run_center(args: argparse.Namespace) -> int:
    from center.health import HealthSettings as CenterHealth
    from center.service import serve
    from commission.reports import CommissionSettings

    config = load(args.config)
    kafka, redis_url = running_servers("the center")
    host, port = http_address()

    return run_until_signal(serve(
        config.city, kafka, redis_url, host, port, snapshot_dir=args.snapshots, rules=config.rules,
        silence_settings=config.silences, health=CenterHealth(stall_s=config.health.stall_s),
        retention=config.retention, live_streams=config.live_streams,
        commission_settings=CommissionSettings(config.interventions, config.open_data)))


def run_until_signal(main: Coroutine[Any, Any, None]) -> int:
    """Run a server's coroutine until SIGINT or SIGTERM cancels it; 0 either way."""
    async def cancelled_by_signal() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        await main

    try:
        asyncio.run(cancelled_by_signal())
    except asyncio.CancelledError:
        pass
    return 0


def run_up(args: argparse.Namespace) -> int:
    return run_system(load(args.config), workers=args.workers, partitions=args.partitions, data=Path(args.data),
                      broker_port=args.broker_port, redis_port=args.redis_port, brokers=args.brokers,
                      postgres_port=args.postgres_port)


def run_system(config: Config, workers: int, partitions: int, data: Path,
               extra: list[tuple[str, list[str], str | None]] | None = None, banner: str = "",
               broker_port: int = DEFAULT_KAFKA_PORT, redis_port: int = DEFAULT_REDIS_PORT, brokers: int = 1,
               postgres_port: int = DEFAULT_POSTGRES_PORT) -> int:
    """Start the stack, workers, center, receiver and cameras (and `extra` commands, each with the Kafka
    role it logs in as), all supervised:
    each is restarted whenever it dies, the embedded broker and Redis included; stop all on a signal."""
    from centinela.receiver_commands import receiver_ports
    from deploy.stack import Stack, ensure_free, free_port
    from deploy.supervisor import Child, Supervisor
    from vocabulary import internal
    from vocabulary.redaction import redacted

    data = own_data(data)
    stack = Stack.from_environment(partitions=partitions, workdir=data, brokers=brokers)
    http_host, http_port = http_address()
    http = f"{http_host}:{http_port}"
    ensure_free(http_host, http_port, "center (CENTINELA_HTTP)")
    for host, port, what in receiver_ports():
        ensure_free(host, port, what)
    servers = stack.supervised(kafka_port=broker_port, redis_port=redis_port, postgres_port=postgres_port)
    snapshots = data / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    env = {"CENTINELA_REDIS": stack.redis_url, "CENTINELA_POSTGRES": stack.postgres_url, "CENTINELA_HTTP": http,
           "CENTINELA_CONFIG": str(config.directory.resolve())}
    if not os.environ.get(internal.KEY_ENV):  # else the configured key is inherited
        env[internal.KEY_FILE_ENV] = str(internal.ensure_key_file(data))
    centinela = [sys.executable, "-m", "centinela"]
    worker = [*centinela, "worker", "--partitions", str(partitions)]
    # (name, argv, the Kafka role it logs in as, if it uses Kafka)
    commands: list[tuple[str, list[str], str | None]] = [
        (f"worker-{n + 1}", [*worker, "--web-port", str(free_port())], "worker") for n in range(workers)]
    commands.append(("center", [*centinela, "center", "--snapshots", str(snapshots)], "center"))
    commands.append(("receiver", [*centinela, "receiver"], "receiver"))  # DC-09 and HTTP ingestion (section 7)
    commands.append(("history", [*centinela, "history"], "history"))  # alerts into PostgreSQL (section 13)
    commands.append(("partners", [*centinela, "partners"], "partners"))  # CAP 1.2 to the agencies (section 16)
    if any(camera.source is not None for camera in config.city.cameras):
        commands.append(("cameras", [*centinela, "cameras", "run", "--kafka", stack.kafka,
                                     "--snapshots", str(snapshots)], "camera"))
    commands += [(name, argv, role) for name, argv, role in extra or []]
    supervisor = Supervisor(redis_url=stack.redis_url)
    try:
        for server in servers:
            supervisor.start(server)
        supervisor.wait_until_running(timeout_s=120)
        if stack.cluster is None:
            stack.create_topics()
        print(f"broker   {stack.kafka}" + ("" if os.environ.get("CENTINELA_KAFKA") else
                                           f"  (embedded Apache Kafka, {brokers} node{'s' if brokers > 1 else ''}, "
                                           f"data in {data}/kafka)"))
        print(f"redis    {redacted(stack.redis_url)}" + ("" if os.environ.get("CENTINELA_REDIS") else f"  (embedded, data in {data})"))
        print(f"postgres {redacted(stack.postgres_url)}" + ("" if os.environ.get("CENTINELA_POSTGRES") else
                                                          f"  (embedded, data in {data}/postgres)"))
        for name, argv, role in commands:
            niceness = CAMERA_NICENESS if name == "cameras" else 0
            kafka = stack.environment(role) if role else {}
            supervisor.start(Child(name, argv, {**env, **kafka, "CENTINELA_PROCESS_NAME": name},
                                   data / f"{name}.log", niceness=niceness))
        print(f"workers  {workers}")
        print(f"center   http://{http_host}:{http_port}/")
        print(f"logs     {data}/*.log")
        if banner:
            print(banner)
        print("running; Ctrl-C stops everything", flush=True)
        return supervisor.run_until_signal()
    finally:
        supervisor.stop()
