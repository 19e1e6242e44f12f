"""`centinela history import FILE`: Alert snapshots, one JSON object a line, in any order.

The whole file is one transaction: a line that is not an Alert stops the import with its line
number and nothing of the file is kept. Lines go to PostgreSQL by COPY in batches, never a row at
a time; versions already stored are left as they are, so importing a file twice changes nothing.
Imported alerts are history only: nothing here touches Kafka, Redis or the live queue.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from pydantic import ValidationError

from history.schema import migrate
from history.store import VersionRow, add_versions, encode_rows, refresh, version_row
from vocabulary.errors import UsageError
from vocabulary.events import Alert

BATCH = 20_000


class BadLine(UsageError):
    """A line that is not an Alert snapshot: the import keeps nothing."""


@dataclass
class Imported:
    lines: int = 0  # snapshots read
    added: int = 0  # versions that were not stored yet
    seconds: float = 0.0


Progress = Callable[[Imported, int], None]  # (so far, bytes read)


def read_rows(stream: IO[bytes], where: str) -> Iterator[tuple[int, VersionRow]]:
    """(line number, row) for each snapshot; BadLine names the first line that is not one."""
    for number, raw in enumerate(stream, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            alert = Alert.model_validate_json(text)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "line"
            raise BadLine(f"{where}: line {number}: not an Alert snapshot: {field}: {first['msg']}") from None
        yield number, version_row(alert, text.decode())


def import_file(url: str, path: Path, progress: Progress | None = None) -> Imported:
    """Import `path` into the store at `url` in one transaction."""
    try:
        stream = path.open("rb")
    except OSError as error:
        raise UsageError(f"{path}: cannot be read: {error.strerror}") from None
    # temp_buffers: each batch's temporary table, and the set of alerts touched, stay in memory
    with stream, psycopg.connect(url, options="-c temp_buffers=256MB") as connection:
        migrate(connection)
        return import_stream(connection, stream, str(path), progress)


def import_stream(connection: psycopg.Connection, stream: IO[bytes], where: str,
                  progress: Progress | None = None) -> Imported:
    """Read and check the lines in a thread while PostgreSQL stores the previous batch (two cores busy, not one)."""
    began = time.monotonic()
    done = Imported()
    batches: queue.Queue[tuple[int, bytes] | BaseException] = queue.Queue(maxsize=2)
    stop = threading.Event()
    reader = threading.Thread(target=_read_batches, args=(stream, where, batches, stop), name="import-reader",
                              daemon=True)
    reader.start()
    try:
        with connection.transaction():
            connection.execute("SET LOCAL work_mem = '256MB'")  # the final refresh groups every imported version
            while (batch := batches.get()) != (0, b""):
                if isinstance(batch, BaseException):
                    raise batch
                lines, encoded = batch
                done.added += add_versions(connection, encoded)
                done.lines += lines
                done.seconds = time.monotonic() - began
                if progress:
                    progress(done, stream.tell())
            refresh(connection)
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            batches.get_nowait()  # a reader blocked on a full queue sees `stop` next
        reader.join()
    done.seconds = time.monotonic() - began
    return done


def _read_batches(stream: IO[bytes], where: str, batches: queue.Queue[tuple[int, bytes] | BaseException],
                  stop: threading.Event) -> None:
    """(rows, their COPY data) a batch at a time, then (0, b"") at the end, or the error (BadLine) that
    stops the import. The COPY data is made here so the importing thread only sends it."""
    def put(item: tuple[int, bytes] | BaseException) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    rows = read_rows(stream, where)
    try:
        while True:
            batch = [row for _, row in _take(rows, BATCH)]
            if not put((len(batch), encode_rows(batch) if batch else b"")) or not batch:
                break
    except BaseException as error:  # handed to the importing thread, which rolls back and raises it
        put(error)
def _take(rows: Iterator[tuple[int, VersionRow]], count: int) -> Iterator[tuple[int, VersionRow]]:
    for _ in range(count):
        found = next(rows, None)
        if found is None:
            return
        yield found
