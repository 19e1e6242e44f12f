"""A history whose commission figures are known by hand (contract section 14), stored in a real PostgreSQL.

Twelve weeks from Monday 2026-08-31 to Monday 2026-11-23 (to), zones `norte` and `sur`:
- cell R in norte: week w (0..11) has w + 1 panics: 78, rising every week;
- cell B in sur: 12 intrusions in week 0, and alert `moved` (no location in version 1, in B in
  version 2) in week 8: 13;
- 2 panics located far from every zone (outside), home zone norte, week 1;
- 3 medical alerts without a location (unlocated), zone sur, week 7;
- left out: 2 false alarms and 1 test in R, 1 motion in R (not a default category), 1 panic in R
  after `to`; a senior's home alarm (`rosa`, medical) alone in its resolution-8 cell, week 5.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import h3
import psycopg

from history.importer import import_stream
from history.schema import migrate
from vocabulary.events import Alert

START = datetime(2026, 8, 31, tzinfo=UTC)
TO = datetime(2026, 11, 23, tzinfo=UTC)
R = (-34.4125, -58.5775)
B = (-34.4250, -58.5775)
FAR = (-34.0, -58.0)
ROSA = (-34.4080, -58.5720)
CITY = """zones:
  - {id: norte, name: Norte, polygon: [[-58.585, -34.42], [-58.57, -34.42], [-58.57, -34.405], [-58.585, -34.405]]}
  - {id: sur, name: Sur, polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42], [-58.585, -34.42]]}
tokens:
  - {token: operator-secret, role: operator, name: Operadora}
  - {token: viewer-secret, role: viewer, name: Comision}
  - {token: responder-secret, role: responder, name: Patrulla, zones: [norte]}
interventions:
  - {id: luces-norte, name: Luminarias en Norte, start: 2026-10-12, zones: [norte]}
  - {id: patrulla-sur, name: Patrulla en Sur, start: 2026-11-02, zones: [sur]}
open_data: {enabled: true}
"""


def alert(alert_id: str, zone: str, category: str, opened: datetime, where: tuple[float, float] | None,
          version: int = 1, disposition: str | None = None, source: str = "bpr-1") -> Alert:
    body: dict[str, Any] = {
        "alert_id": alert_id, "zone_id": zone, "priority": 1, "category": category, "title": category,
        "status": "resolved" if disposition else "open", "opened_at": opened, "updated_at": opened,
        "source": {"kind": "beeper", "id": source}, "count": 1, "event_ids": [f"e-{alert_id}-{version}"],
        "rule": "test", "version": version, "disposition": disposition,
    }
    if where is not None:
        body["location"] = {"lat": where[0], "lon": where[1], "accuracy_m": 10}
    return Alert.model_validate(body)


def week_day(week: int, day: int = 2, hour: int = 12) -> datetime:
    return START + timedelta(weeks=week, days=day, hours=hour)


def known_alerts() -> list[Alert]:
    made: list[Alert] = []
    for week in range(12):
        made += [alert(f"r-{week}-{i}", "norte", "panic", week_day(week, hour=1 + i % 20), R) for i in range(week + 1)]
    made += [alert(f"b-{i}", "sur", "intrusion", week_day(0, day=1, hour=i), B, source="acct-9") for i in range(12)]
    made += [alert("moved", "sur", "panic", week_day(8), None),
             alert("moved", "sur", "panic", week_day(8), B, version=2, disposition="real")]
    made += [alert(f"far-{i}", "norte", "panic", week_day(1, hour=i), FAR) for i in range(2)]
    made += [alert(f"nowhere-{i}", "sur", "medical", week_day(7, hour=i), None, source="acct-3") for i in range(3)]
    made += [alert(f"false-{i}", "norte", "panic", week_day(2, hour=i), R, disposition="false_alarm", source="bpr-7")
             for i in range(2)]
    made += [alert("tested", "norte", "panic", week_day(3), R, disposition="test", source="bpr-7")]
    made += [alert("moving", "norte", "motion", week_day(4), R, source="cam-1")]
    made += [alert("late", "norte", "panic", TO + timedelta(days=2), R)]
    made += [alert("rosa", "norte", "medical", week_day(5), ROSA, source="acct-rosa")]
    return made


def cell(point: tuple[float, float], resolution: int = 9) -> str:
    return str(h3.latlng_to_cell(point[0], point[1], resolution))


@contextmanager
def database(server_url: str) -> Iterator[str]:
    """A database of its own on the session's server, dropped after."""
    name = f"commission_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(server_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def load(url: str, alerts: list[Alert]) -> None:
    """Through the history's own import (contract section 13), as a center moving in would."""
    lines = b"".join(a.model_dump_json().encode() + b"\n" for a in alerts)
    with psycopg.connect(url) as connection:
        migrate(connection)
        import_stream(connection, io.BytesIO(lines), "known history")


def write_city(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "city.yaml").write_text(CITY)
    return directory
