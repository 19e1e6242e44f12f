"""`centinela history` (the history writer) and `centinela history import FILE` (contract section 13).

Both use the embedded PostgreSQL that `up` runs for `--data` (on `--postgres-port`), unless
CENTINELA_POSTGRES names a running server.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from centinela.commands import load, run_until_signal
from vocabulary.errors import UsageError

if TYPE_CHECKING:
    from history.importer import Imported, Progress

DEFAULT_DATA = ".centinela"
DEMO_WAIT_S = 300.0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from deploy.postgres import DEFAULT_PORT

    history = sub.add_parser("history", help="keep every alert version read from `alerts` in PostgreSQL "
                                             "(CENTINELA_KAFKA; CENTINELA_REDIS for /healthz)")
    store_options(history, DEFAULT_PORT)
    history.set_defaults(run=run_writer)
    history_sub = history.add_subparsers(dest="history_command", metavar="COMMAND")
    imports = history_sub.add_parser("import", help="load Alert snapshots (JSON lines, any order) into the history")
    imports.add_argument("file", type=Path, help="one Alert JSON object a line")
    store_options(imports, DEFAULT_PORT)
    imports.set_defaults(run=run_import)


def store_options(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--config", help="configuration directory (else CENTINELA_CONFIG); validated when given")
    parser.add_argument("--data", default=DEFAULT_DATA, type=Path, help="the data directory `up` uses")
    parser.add_argument("--postgres-port", type=int, default=port, help="the embedded PostgreSQL's port")


def store_url(args: argparse.Namespace) -> str:
    from deploy.postgres import store_url as url_for

    if args.config or os.environ.get("CENTINELA_CONFIG"):
        load(args.config)
    return url_for(args.data, args.postgres_port)


def run_writer(args: argparse.Namespace) -> int:
    from history.writer import HistoryWriter
    from vocabulary import internal
    from vocabulary.kafka_security import KafkaSecurity

    url = store_url(args)
    kafka = os.environ.get("CENTINELA_KAFKA")
    if not kafka:
        raise UsageError("the history writer needs CENTINELA_KAFKA (host:port)")
    writer = HistoryWriter(kafka, url, internal.key_from_environment(), KafkaSecurity.from_environment(),
                           redis_url=os.environ.get("CENTINELA_REDIS"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return run_until_signal(writer.run())


def run_import(args: argparse.Namespace) -> int:
    from history.importer import import_file

    url = store_url(args)
    size = max(1, args.file.stat().st_size) if args.file.is_file() else 1
    done = import_file(url, args.file, _progress(size, sys.stderr.isatty()))
    print(f"\rhistory import: {args.file}: {done.lines:,} snapshots, {done.added:,} versions new, "
          f"{done.lines - done.added:,} already stored, in {done.seconds:.1f} s", file=sys.stderr)
    return 0


def _progress(size: int, terminal: bool) -> Progress:
    """On a terminal, one line rewritten; else whole lines, at most one every 2 s."""
    last = [0.0]

    def show(done: Imported, position: int) -> None:
        if not terminal and time.monotonic() - last[0] < 2.0:
            return
        last[0] = time.monotonic()
        print(f"{chr(13) if terminal else ''}history import: {done.lines:,} snapshots read "
              f"({100 * position / size:.0f} %)", end="" if terminal else "\n", file=sys.stderr, flush=True)

    return show


def import_demo_history(data: Path, port: int, city_dir: Path) -> threading.Thread:
    """In the background: once the demo's PostgreSQL answers, import a year of generated history
    for its city, at the first start only (a marker file in `data` remembers it)."""
    thread = threading.Thread(target=_import_demo_history, args=(data.resolve(), port, city_dir),
                              name="demo-history", daemon=True)
    thread.start()
    return thread


def _import_demo_history(data: Path, port: int, city_dir: Path) -> None:
    import io
    from datetime import UTC, datetime

    from deploy import postgres
    from deploy.history_demo import generate
    from history.importer import import_stream

    marker = data / "history-demo.imported"
    if marker.exists():
        return
    deadline = time.monotonic() + DEMO_WAIT_S
    url = None
    while time.monotonic() < deadline:
        try:
            url = postgres.store_url(data, port)
            if postgres.answers(url):
                break
        except postgres.PostgresError:
            pass
        url = None
        time.sleep(1)
    if url is None:
        print("demo: PostgreSQL did not answer; the Reports view starts empty", file=sys.stderr)
        return
    import psycopg

    from history.schema import migrate

    lines = generate(load(city_dir).city, end=datetime.now(UTC))
    with psycopg.connect(url) as connection:
        migrate(connection)
        done = import_stream(connection, io.BytesIO("".join(lines).encode()), "demo history")
    marker.write_text(f"{done.lines} snapshots\n", encoding="ascii")
    print(f"demo: imported a year of history ({done.lines:,} snapshots) for the Reports view", file=sys.stderr)
