"""The history in PostgreSQL: import rate, and each report over a large history.

A private PostgreSQL (deploy/postgres.py, as `up` runs it) on a free port. The history is the demo
city's generator (deploy/history_demo.py) stretched to BENCH_ALERTS alerts (default 1,000,000,
about 3.5 million versions) over a year.
- import: `centinela history import`'s code path (validation, COPY in batches, one transaction,
  the current rows) against the baseline of PostgreSQL's own server-side COPY of the same rows
  into a table of the same columns without keys or indexes. Target: >= 20,000 versions/s.
- reports: each report over the whole year (the median of 3 runs), opening its connections as the
  center does, against opening the same connections for a bare `SELECT count(*) FROM alerts`.
  Target: <= 1 s each.
- writer: `centinela history`'s HistoryWriter reading BENCH_WRITER_VERSIONS signed versions from
  `alerts` on an embedded Apache Kafka (deploy/stack.py) into a database of its own, against a bare
  aiokafka consumer reading the same messages. Each rate runs from the first message (or stored
  batch) to the last, so the consumer group's join is not counted. Target: >= 5,000 versions/s.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer
from psycopg_pool import AsyncConnectionPool

from centinela.config import load_config
from deploy import postgres as embedded
from deploy.history_demo import generate
from deploy.simulate import DEMO_CITY
from deploy.stack import Stack, free_port
from history import reports
from history.importer import BATCH, import_file, read_rows
from history.schema import migrate
from history.writer import BATCH as WRITER_BATCH
from history.writer import HistoryWriter
from streams.ports import partition_of
from tests.bench._report import progress_for, report
from vocabulary import internal, topics

ALERTS = int(os.environ.get("BENCH_ALERTS", "1000000"))
END = datetime(2026, 12, 1, tzinfo=UTC)
CHUNK = 50_000  # alerts generated at a time, to keep memory flat
RUNS = 3
WRITER_VERSIONS = int(os.environ.get("BENCH_WRITER_VERSIONS", "200000"))
say = progress_for("bench_history")


def write_history(path: Path) -> int:
    city = load_config(DEMO_CITY).city
    lines = 0
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, ALERTS, CHUNK):
            chunk = generate(city, END, seed=start, alerts=min(CHUNK, ALERTS - start))
            # Each chunk numbers its alerts from 0: give them ids of their own.
            out.writelines(line.replace('"alert_id":"hist-', f'"alert_id":"b{start}-', 1) for line in chunk)
            lines += len(chunk)
            say(f"generated {start + CHUNK:,} of {ALERTS:,} alerts ({lines:,} versions)")
    return lines


def baseline_copy(url: str, history: Path, work: Path) -> float:
    """Seconds for the server's own COPY of the same rows (pre-extracted to a file it reads itself)."""
    rows = work / "rows.tsv"
    with history.open("rb") as stream, rows.open("wb") as out:
        for _, row in read_rows(stream, str(history)):
            out.write(("\t".join(_text(v) for v in row) + "\n").encode())
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE UNLOGGED TABLE IF NOT EXISTS baseline (LIKE alert_versions)")
        connection.execute("TRUNCATE baseline")
        began = time.perf_counter()
        connection.execute(f"COPY baseline FROM '{rows}'".encode())
        return time.perf_counter() - began


def _text(value: object) -> str:
    if value is None:
        return r"\N"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


async def time_reports(url: str) -> dict[str, float]:
    config = load_config(DEMO_CITY)
    calendar = reports.Calendar.of(config.city, config.rules)
    period = reports.Period.parse("2025-11-01T00:00:00Z", "2026-12-02T00:00:00Z")

    async def count(pool: AsyncConnectionPool) -> None:
        async with pool.connection() as connection:
            await connection.execute("SELECT count(*) FROM alerts")

    runs = {
        "count(*)": count,
        "response": lambda p: reports.response(p, period, calendar),
        "false-alarms": lambda p: reports.false_alarms(p, period, calendar),
        "operators": lambda p: reports.operators(p, period, calendar),
    }
    seconds = {}
    for name, run in runs.items():
        took = []
        for _ in range(RUNS):
            began = time.perf_counter()
            async with reports.reading_pool(url) as pool:  # its own connections, as the center opens them
                await run(pool)
            took.append(time.perf_counter() - began)
        seconds[name] = statistics.median(took)
        say(f"report {name}: {seconds[name]:.3f} s")
    return seconds


def produce(stack: Stack, lines: list[bytes], secret: bytes) -> None:
    """The lines as `alerts` messages, each signed for its zone's partition, as the stream workers send them."""
    assert stack.cluster is not None
    producer = KafkaProducer(bootstrap_servers=stack.kafka, linger_ms=20, batch_size=256 * 1024,
                             **stack.cluster.security("worker").producer())
    name = topics.named(topics.ALERTS)
    try:
        for number, line in enumerate(lines, start=1):
            key = line.split(b'"zone_id":"', 1)[1].split(b'"', 1)[0]
            partition = partition_of(key.decode(), stack.partitions)
            producer.send(name, key=key, value=line, partition=partition,
                          headers=internal.headers(secret, topics.ALERTS, partition, key, line))
            if number % 50_000 == 0:
                say(f"produced {number:,} of {len(lines):,}")
        producer.flush(120)
    finally:
        producer.close(30)


async def read_bare(stack: Stack, count: int) -> float:
    """Seconds from the first message to the last for a bare consumer of every partition of `alerts`."""
    assert stack.cluster is not None
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka, enable_auto_commit=False,
                                **stack.cluster.security("admin").client())
    await consumer.start()
    try:
        assigned = [TopicPartition(topics.named(topics.ALERTS), p) for p in range(stack.partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        read, first = 0, 0.0
        while read < count:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=2000)).values():
                first = first or time.perf_counter()
                read += len(records)
        return time.perf_counter() - first
    finally:
        await consumer.stop()


async def run_writer(stack: Stack, url: str, secret: bytes, count: int) -> tuple[float, int]:
    """Seconds from the writer's first stored batch until all `count` versions are stored, and how many
    that first batch held."""
    assert stack.cluster is not None
    writer = HistoryWriter(stack.kafka, url, secret, stack.cluster.security("history"))
    task = asyncio.create_task(writer.run())
    try:
        began = time.monotonic()
        while writer.counts.stored == 0:
            if time.monotonic() - began > 120:
                raise SystemExit(f"bench_history: the writer stored nothing in 120 s ({writer.counts.problem})")
            await asyncio.sleep(0.01)
        first, at_first = time.perf_counter(), writer.counts.stored
        shown = 0
        while writer.counts.stored < count:
            await asyncio.sleep(0.01)
            if writer.counts.stored // 50_000 > shown:
                shown = writer.counts.stored // 50_000
                say(f"writer stored {writer.counts.stored:,} of {count:,}")
        return time.perf_counter() - first, at_first
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def writer_rates(url: str, history: Path, work: Path) -> dict[str, object]:
    """The writer's versions/s from `alerts`, and a bare consumer's of the same messages."""
    with history.open("rb") as stream:
        lines = [line.rstrip(b"\n").replace(b'"alert_id":"b', b'"alert_id":"w', 1)
                 for line in itertools.islice(stream, WRITER_VERSIONS)]
    count = len(lines)
    secret = secrets.token_bytes(32)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE writer")
    store = psycopg.conninfo.make_conninfo(url, dbname="writer")
    say("starting Apache Kafka for the writer")
    with Stack(workdir=work / "stack") as stack:
        say(f"producing {count:,} signed versions to alerts")
        produce(stack, lines, secret)
        bare_s = asyncio.run(read_bare(stack, count))
        say(f"bare consumer: {count / bare_s:,.0f} messages/s; now the writer")
        writer_s, at_first = asyncio.run(run_writer(stack, store, secret, count))
    with psycopg.connect(store) as connection:
        stored = connection.execute("SELECT count(*) FROM alert_versions").fetchone()
    assert stored == (count,), (stored, count)
    writer_rate = (count - at_first) / writer_s
    return {
        "writer_versions": count, "writer_versions_per_s": round(writer_rate),
        "writer_baseline_bare_consumer_per_s": round(count / bare_s),
        "writer_vs_bare_consumer": round(writer_rate / (count / bare_s), 3),
        "writer_target_5000_per_s_met": writer_rate >= 5_000,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        work = Path(folder)
        os.chmod(work, 0o700)
        data = work / "data"
        embedded.ensure_initialised(data)
        port = free_port()
        log = (work / "postgres.log").open("wb")
        server = subprocess.Popen(embedded.postgres_argv(port, data), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            url = embedded.postgres_url(port, data)
            embedded.wait_until_answers(url)
            with psycopg.connect(url) as connection:
                migrate(connection)
            history = work / "history.jsonl"
            versions = write_history(history)
            say(f"{versions:,} versions, {history.stat().st_size / 1e6:,.0f} MB; importing")
            began = time.perf_counter()
            imported = import_file(url, history, lambda done, _: say(f"imported {done.lines:,} versions"))
            import_s = time.perf_counter() - began
            assert imported.added == versions, (imported.added, versions)
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("VACUUM ANALYZE alerts")
                connection.execute("VACUUM ANALYZE alert_versions")
            say("baseline: the server's own COPY of the same rows")
            copy_s = baseline_copy(url, history, work)
            seconds = asyncio.run(time_reports(url))
            writer = writer_rates(url, history, work)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
            log.close()
    count_s = seconds.pop("count(*)")
    figures: dict[str, object] = {
        "versions": versions, "alerts": ALERTS,
        "import_s": round(import_s, 1), "import_versions_per_s": round(versions / import_s),
        "baseline_copy_s": round(copy_s, 1), "baseline_copy_versions_per_s": round(versions / copy_s),
        "import_vs_copy": round((versions / import_s) / (versions / copy_s), 3),
        "import_target_20000_per_s_met": versions / import_s >= 20_000,
        "baseline_count_s": round(count_s, 3),
    }
    for name, took in seconds.items():
        figures[f"report_{name}_s"] = round(took, 3)
        figures[f"report_{name}_vs_count"] = round(took / count_s, 1)
        figures[f"report_{name}_target_1s_met"] = took <= 1.0
    figures.update(writer)
    report("bench_history", {"alerts": ALERTS, "batch": BATCH, "report_runs": RUNS, "postgres": "15, defaults",
                             "period": "the whole year", "writer_batch": WRITER_BATCH,
                             "broker": "embedded Apache Kafka 4.3 (KRaft, 1 node, SASL/SCRAM, ACLs), 4 partitions"},
           figures)


if __name__ == "__main__":
    main()
