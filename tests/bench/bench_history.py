"""The history in PostgreSQL: import rate, and each report over a large history.

A private PostgreSQL (deploy/postgres.py, as `up` runs it) on a free port. The history is the demo
city's generator (deploy/history_demo.py) stretched to BENCH_ALERTS alerts (default 1,000,000,
about 3.5 million versions) over a year.
- import: `centinela history import`'s code path (validation, COPY in batches, one transaction,
  the current rows) against the baseline of PostgreSQL's own server-side COPY of the same rows
  into a table of the same columns without keys or indexes. Target: >= 20,000 versions/s.
- reports: each report over the whole year (the median of 3 runs) against a bare
  `SELECT count(*) FROM alerts`. Target: <= 1 s each.
"""

from __future__ import annotations

import asyncio
import os
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

from centinela.config import load_config
from deploy import postgres as embedded
from deploy.history_demo import generate
from deploy.simulate import DEMO_CITY
from deploy.stack import free_port
from history import reports
from history.importer import BATCH, import_file, read_rows
from history.schema import migrate
from tests.bench._report import progress_for, report

ALERTS = int(os.environ.get("BENCH_ALERTS", "1000000"))
END = datetime(2026, 12, 1, tzinfo=UTC)
CHUNK = 50_000  # alerts generated at a time, to keep memory flat
RUNS = 3
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
    runs = {
        "count(*)": lambda c: c.execute("SELECT count(*) FROM alerts"),
        "response": lambda c: reports.response(c, period, calendar),
        "false-alarms": lambda c: reports.false_alarms(c, period, calendar),
        "operators": lambda c: reports.operators(c, period, calendar),
    }
    seconds = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, options=reports.SESSION_OPTIONS) as connection:
        for name, run in runs.items():
            took = []
            for _ in range(RUNS):
                began = time.perf_counter()
                await run(connection)
                took.append(time.perf_counter() - began)
            seconds[name] = statistics.median(took)
            say(f"report {name}: {seconds[name]:.3f} s")
    return seconds


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
    report("bench_history", {"alerts": ALERTS, "batch": BATCH, "report_runs": RUNS, "postgres": "15, defaults",
                             "period": "the whole year"}, figures)


if __name__ == "__main__":
    main()
