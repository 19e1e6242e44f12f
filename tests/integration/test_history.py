"""The history on a real PostgreSQL: import (idempotent, all or nothing) and section 13's reports on a
hand-made history (tests/integration/history_cases.py) whose answers were computed by hand."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from centinela.config import load_config
from history import reports
from history.schema import CREATE_LEDGER, MIGRATIONS, migrate
from history.store import add_versions, encode_rows, version_row
from tests.integration.history_cases import CITY, FROM, LOCATIONS, TO, snapshots, write_history
from vocabulary.events import Alert

pytestmark = pytest.mark.integration


def fresh_database(server_url: str) -> str:
    name = f"h_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}".encode())
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def centinela(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "centinela", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CENTINELA_POSTGRES": url}, check=False)


def counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT (SELECT count(*) FROM alert_versions), (SELECT count(*) FROM alerts)").fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture(scope="module")
def imported(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database(postgres)
    done = centinela("history", "import", str(write_history(tmp_path_factory.mktemp("history") / "h.jsonl")), url=url)
    assert done.returncode == 0, done.stderr
    yield url


def latest_locations() -> dict[str, tuple[float, float] | None]:
    latest = {alert_id: version for alert_id, version in sorted((s["alert_id"], s["version"]) for s in snapshots())}
    return {alert_id: LOCATIONS.get((alert_id, version)) for alert_id, version in latest.items()}


def current_locations(url: str) -> dict[str, tuple[float, float] | None]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT alert_id, lat, lon FROM alerts").fetchall()
    return {alert_id: None if lat is None else (lat, lon) for alert_id, lat, lon in rows}


def report(url: str, which: str, **options: Any) -> dict[str, Any]:
    config = load_config(CITY)
    calendar = reports.Calendar.of(config.city, config.rules)
    period = reports.Period.parse(options.pop("start", FROM), options.pop("end", TO))

    async def run() -> dict[str, Any]:
        async with reports.reading_pool(url) as pool:
            compute = getattr(reports, which)
            result: dict[str, Any] = await compute(pool, period, calendar, **options)
            return result

    return asyncio.run(run())


def test_import_keeps_each_version_once_and_a_current_row_per_alert(imported: str) -> None:
    assert counts(imported) == (24, 9)  # 24 distinct versions (one line was there twice), 9 alerts
    with psycopg.connect(imported) as connection:
        a9 = connection.execute("SELECT version, zone_id, status, ack_by FROM alerts WHERE alert_id = 'A9'").fetchone()
        a3 = connection.execute("SELECT ack_at - opened_at, ack_by, dispatch_at - opened_at FROM alerts "
                                "WHERE alert_id = 'A3'").fetchone()
    assert a9 == (2, "costa", "acknowledged", "Caro")
    assert a3 is not None and a3[0].total_seconds() == 50 and a3[1] == "Ana" and a3[2].total_seconds() == 50
    # A9 at its second version's place, A5 unlocated (its latest version has no location)
    assert current_locations(imported) == latest_locations()
    assert latest_locations()["A9"] == (-34.4255, -58.5712) and latest_locations()["A5"] is None


def test_importing_twice_changes_nothing(imported: str, tmp_path: Path) -> None:
    before = report(imported, "response")
    again = centinela("history", "import", str(write_history(tmp_path / "again.jsonl")), url=imported)
    assert again.returncode == 0, again.stderr
    assert "0 versions new" in again.stderr
    assert counts(imported) == (24, 9)
    assert report(imported, "response") == before


def test_a_bad_line_keeps_nothing_of_the_file_and_names_its_line(postgres: str, tmp_path: Path) -> None:
    url = fresh_database(postgres)
    good = write_history(tmp_path / "good.jsonl").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*good[:7], '{"alert_id": "X1", "priority": "high"}', *good[7:]]) + "\n", encoding="utf-8")
    done = centinela("history", "import", str(bad), url=url)
    assert done.returncode == 2
    assert "line 8" in done.stderr and "Traceback" not in done.stderr
    assert counts(url) == (0, 0)  # the seven good lines before it were not kept either


def test_migrations_are_recorded_and_applied_once(imported: str) -> None:
    with psycopg.connect(imported) as connection:
        assert migrate(connection) == []
        applied = [row[0] for row in connection.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == [m[0] for m in MIGRATIONS]


def test_migration_2_gives_current_rows_written_before_it_their_latest_location(postgres: str) -> None:
    url = fresh_database(postgres)
    with psycopg.connect(url) as connection:
        with connection.transaction():  # a history as a release with only migration 1 kept it
            connection.execute(CREATE_LEDGER)
            connection.execute(MIGRATIONS[0][2].encode())
            connection.execute("INSERT INTO schema_migrations (version, name) VALUES (1, %s)", (MIGRATIONS[0][1],))
            add_versions(connection, encode_rows(version_row(Alert.model_validate(s), json.dumps(s)) for s in snapshots()))
            connection.execute("""INSERT INTO alerts (alert_id, version, zone_id, priority, category, status, opened_at,
                                      updated_at, source_kind, source_id, disposition)
                                  SELECT DISTINCT ON (alert_id) alert_id, version, zone_id, priority, category, status,
                                      opened_at, updated_at, source_kind, source_id, disposition
                                  FROM alert_versions ORDER BY alert_id, version DESC""")
        assert migrate(connection) == [m[0] for m in MIGRATIONS[1:]]
    assert current_locations(url) == latest_locations()


def test_response_report(imported: str) -> None:
    got = report(imported, "response")
    assert got["from"] == "2026-11-01T00:00:00.000Z" and got["to"] == "2026-11-08T00:00:00.000Z"
    assert got["alerts"] == 7  # A1-A6 and A9; A7 opened before `from`, A8 at `to`
    # P1: ack [10, 40, 50] -> p50 40, p90 40 + 0.8 * 10 = 48; dispatch [50, 70] -> 60, 50 + 0.9 * 20 = 68;
    # resolve [100, 600, 900] -> 600, 600 + 0.8 * 300 = 840. Within: A1 10 <= 30, A2 40 > 30, A3 50 <= 60 (costa).
    assert got["by_priority"]["1"] == {
        "alerts": 3, "acknowledged": 3,
        "ack_s": {"p50": 40.0, "p90": 48.0, "max": 50.0},
        "dispatch_s": {"p50": 60.0, "p90": 68.0, "max": 70.0},
        "resolve_s": {"p50": 600.0, "p90": 840.0, "max": 900.0},
        "within_deadline": pytest.approx(2 / 3),
    }
    # P2: ack [20, 25, 90] -> 25, 25 + 0.8 * 65 = 77; resolve [200]. Within 60 s: A4, A9, not A5.
    assert got["by_priority"]["2"] == {
        "alerts": 3, "acknowledged": 3,
        "ack_s": {"p50": 25.0, "p90": 77.0, "max": 90.0},
        "dispatch_s": {"p50": None, "p90": None, "max": None},
        "resolve_s": {"p50": 200.0, "p90": 200.0, "max": 200.0},
        "within_deadline": pytest.approx(2 / 3),
    }
    assert got["by_priority"]["4"] == {  # P4 never escalates: no deadline to be within
        "alerts": 1, "acknowledged": 0, "ack_s": {"p50": None, "p90": None, "max": None},
        "dispatch_s": {"p50": None, "p90": None, "max": None}, "resolve_s": {"p50": None, "p90": None, "max": None},
        "within_deadline": None,
    }
    assert set(got["by_priority"]) == {"1", "2", "4"}
    assert got["dispositions"] == {"real": 2, "false_alarm": 2, "test": 0, "unresolved": 3}
    # centro: A1, A2, A5, A6, ack [10, 40, 90]; costa: A3, A4 and A9 (moved there), ack [20, 25, 50]
    assert got["by_zone"] == {"centro": {"alerts": 4, "ack_p50_s": 40.0}, "costa": {"alerts": 3, "ack_p50_s": 25.0}}
    # centro is UTC-3: A1 02:00Z -> 23, A2 15:30Z -> 12, A5 03:00Z -> 0, A6 12:00Z -> 9; costa (UTC): 8, 23, 10
    expected = [0] * 24
    for hour in (23, 12, 0, 9, 8, 23, 10):
        expected[hour] += 1
    assert got["by_hour"] == expected


def test_response_report_by_zone_and_category(imported: str) -> None:
    centro = report(imported, "response", zone="centro")
    assert centro["alerts"] == 4 and centro["by_priority"]["1"]["ack_s"]["p50"] == 25.0  # [10, 40]
    intrusion = report(imported, "response", category="intrusion")
    assert intrusion["alerts"] == 3 and set(intrusion["by_priority"]) == {"2"}
    later = report(imported, "response", start="2026-11-05T00:00:00Z")
    assert later["alerts"] == 3  # A5, A6, A9


def test_false_alarm_report(imported: str) -> None:
    # pn-1: A3 real, A4 false alarm, A5 unresolved -> 3 alerts, 2 resolved, rate 1/2; the rest have 1 alert
    assert report(imported, "false_alarms")["sources"] == [
        {"kind": "alarm", "id": "pn-1", "alerts": 3, "resolved": 2, "false_alarm": 1, "rate": 0.5}]
    ranked = report(imported, "false_alarms", min_alerts=1)["sources"]
    assert [(s["id"], s["rate"]) for s in ranked] == [
        ("bp-2", 1.0), ("pn-1", 0.5), ("bp-1", 0.0), ("pn-2", None), ("pn-3", None)]


def test_operators_report(imported: str) -> None:
    # Ana: acks A1, A5; dispatches A1, A3; resolves A1, A3; one step (A3); ack times she set: A1 10,
    # A3 50 (dispatched straight away), A5 90. Beto: A2 40, A4 20. Caro: A9 25. A7 is outside the period.
    assert report(imported, "operators")["operators"] == [
        {"name": "Ana", "acknowledged": 2, "dispatched": 2, "resolved": 2, "steps": 1, "ack_p50_s": 50.0},
        {"name": "Beto", "acknowledged": 2, "dispatched": 0, "resolved": 2, "steps": 0, "ack_p50_s": 30.0},
        {"name": "Caro", "acknowledged": 1, "dispatched": 0, "resolved": 0, "steps": 0, "ack_p50_s": 25.0},
    ]
