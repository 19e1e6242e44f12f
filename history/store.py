"""Storing alert versions: one row per (alert_id, version), and the current row of each alert.

A batch goes into a temporary table by COPY, then into `alert_versions` with ON CONFLICT DO
NOTHING (the same version twice is one row); then (after each batch for the writer, once at the
end for an import) the touched alerts' current rows are computed again from all their versions: the latest version, and the `updated_at` of the first
(lowest-numbered) version acknowledged, dispatched and resolved (contract section 13). That
recomputation runs under a table lock, after every earlier batch committed, so two writers (or a
writer and an import) touching one alert never leave it with a version missing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import psycopg

from vocabulary.events import Alert

COLUMNS = ("alert_id", "version", "zone_id", "priority", "category", "status", "opened_at", "updated_at",
           "change", "changed_by", "source_kind", "source_id", "disposition", "body")


class VersionRow(NamedTuple):
    alert_id: str
    version: int
    zone_id: str
    priority: int
    category: str
    status: str
    opened_at: datetime
    updated_at: datetime
    change: str
    changed_by: str
    source_kind: str
    source_id: str
    disposition: str | None
    body: str  # the snapshot's JSON as received


def version_row(alert: Alert, body: str) -> VersionRow:
    return VersionRow(alert.alert_id, alert.version, alert.zone_id, alert.priority, alert.category, alert.status,
                      alert.opened_at, alert.updated_at, alert.change, alert.changed_by, alert.source.kind,
                      alert.source.id, alert.disposition, body)


# COPY's binary format (PostgreSQL's "COPY" page): the server parses no text but each body's JSON.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # no flags, no header extension
COPY_TRAILER = b"\xff\xff"
_FIELDS = struct.Struct(">h").pack(len(COLUMNS))
_LENGTH = struct.Struct(">i")
_INT4 = struct.Struct(">ii")  # length, value
_INT2 = struct.Struct(">ih")
_TWO_TIMES = struct.Struct(">iqiq")  # (length, microseconds since 2000-01-01 UTC) twice
_NULL = _LENGTH.pack(-1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def encode_rows(rows: Iterable[VersionRow]) -> bytes:
    """The rows as one block of binary COPY data for COPY_INCOMING, signature and trailer included."""
    out = bytearray(COPY_SIGNATURE)
    for r in rows:
        body = r.body.encode()
        out += b"".join((
            _FIELDS, _text(r.alert_id), _INT4.pack(4, r.version), _text(r.zone_id), _INT2.pack(2, r.priority),
            _text(r.category), _text(r.status),
            _TWO_TIMES.pack(8, (r.opened_at - _PG_EPOCH) // _MICROSECOND, 8, (r.updated_at - _PG_EPOCH) // _MICROSECOND),
            _text(r.change), _text(r.changed_by), _text(r.source_kind), _text(r.source_id),
            _NULL if r.disposition is None else _text(r.disposition),
            _LENGTH.pack(len(body) + 1), b"\x01", body))  # jsonb's binary form: version 1, then the text
    out += COPY_TRAILER
    return bytes(out)


CREATE_INCOMING = "CREATE TEMP TABLE IF NOT EXISTS incoming (LIKE alert_versions) ON COMMIT DELETE ROWS"
CREATE_TOUCHED = "CREATE TEMP TABLE IF NOT EXISTS touched (alert_id text PRIMARY KEY) ON COMMIT DELETE ROWS"
COPY_INCOMING = "COPY incoming (alert_id, version, zone_id, priority, category, status, opened_at, updated_at, " \
                "change, changed_by, source_kind, source_id, disposition, body) FROM STDIN (FORMAT BINARY)"
INSERT_VERSIONS = "INSERT INTO alert_versions SELECT * FROM incoming ON CONFLICT (alert_id, version) DO NOTHING"
TOUCH = "INSERT INTO touched SELECT DISTINCT alert_id FROM incoming ON CONFLICT DO NOTHING"
LOCK_CURRENT = "LOCK TABLE alerts IN SHARE ROW EXCLUSIVE MODE"
ACKED = "('acknowledged', 'dispatched', 'resolved')"
REFRESH_CURRENT = f"""
INSERT INTO alerts (alert_id, version, zone_id, priority, category, status, opened_at, updated_at, source_kind,
                    source_id, disposition, ack_at, ack_by, dispatch_at, resolve_at, lat, lon)
SELECT l.alert_id, l.version, l.zone_id, l.priority, l.category, l.status, l.opened_at, l.updated_at, l.source_kind,
       l.source_id, l.disposition, f.ack_at, f.ack_by, f.dispatch_at, f.resolve_at,
       (l.body #>> '{{location,lat}}')::float8, (l.body #>> '{{location,lon}}')::float8
FROM (SELECT v.alert_id, max(v.version) AS version,
             (array_agg(v.updated_at ORDER BY v.version) FILTER (WHERE v.status IN {ACKED}))[1] AS ack_at,
             (array_agg(v.changed_by ORDER BY v.version) FILTER (WHERE v.status IN {ACKED}))[1] AS ack_by,
             (array_agg(v.updated_at ORDER BY v.version) FILTER (WHERE v.status = 'dispatched'))[1] AS dispatch_at,
             (array_agg(v.updated_at ORDER BY v.version) FILTER (WHERE v.status = 'resolved'))[1] AS resolve_at
      FROM alert_versions v WHERE v.alert_id IN (SELECT alert_id FROM touched)
      GROUP BY v.alert_id) AS f
JOIN alert_versions l ON l.alert_id = f.alert_id AND l.version = f.version
ON CONFLICT (alert_id) DO UPDATE SET
    version = excluded.version, zone_id = excluded.zone_id, priority = excluded.priority,
    category = excluded.category, status = excluded.status, opened_at = excluded.opened_at,
    updated_at = excluded.updated_at, source_kind = excluded.source_kind, source_id = excluded.source_id,
    disposition = excluded.disposition, ack_at = excluded.ack_at, ack_by = excluded.ack_by,
    dispatch_at = excluded.dispatch_at, resolve_at = excluded.resolve_at, lat = excluded.lat, lon = excluded.lon
"""


def add_versions(connection: psycopg.Connection, encoded: bytes) -> int:
    """Within the caller's transaction: keep the rows `encode_rows` gave, and remember their alerts for
    `refresh`; returns how many versions were new."""
    connection.execute(CREATE_INCOMING)
    connection.execute(CREATE_TOUCHED)
    with connection.cursor() as cursor:
        with cursor.copy(COPY_INCOMING) as copy:
            copy.write(encoded)
        cursor.execute(INSERT_VERSIONS)
        added = cursor.rowcount
        cursor.execute(TOUCH)
        cursor.execute("TRUNCATE incoming")
        return added


def refresh(connection: psycopg.Connection) -> None:
    """The current rows of every alert touched since the last refresh, from all their versions."""
    connection.execute(CREATE_TOUCHED)
    connection.execute(LOCK_CURRENT)
    connection.execute(REFRESH_CURRENT.encode())
    connection.execute("TRUNCATE touched")


async def store_async(connection: psycopg.AsyncConnection, rows: Iterable[VersionRow]) -> int:
    """`add_versions` and `refresh` in one, for the writer's event loop."""
    await connection.execute(CREATE_INCOMING)
    await connection.execute(CREATE_TOUCHED)
    async with connection.cursor() as cursor:
        async with cursor.copy(COPY_INCOMING) as copy:
            await copy.write(encode_rows(rows))
        await cursor.execute(INSERT_VERSIONS)
        added = cursor.rowcount
        await cursor.execute(TOUCH)
        await cursor.execute(LOCK_CURRENT)
        await cursor.execute(REFRESH_CURRENT.encode())
        await cursor.execute("TRUNCATE incoming, touched")
        return added
