"""What the commission's statistics read from the history: each alert's current row (`alerts`) and, for
its location, its latest version's snapshot (`alert_versions`).

An incident (contract section 14) is an alert of the requested categories whose `opened_at` is in
[from, to) and whose latest version's disposition is neither `false_alarm` nor `test`; located
when that version has a `location`. Located incidents come out by binary COPY straight into numpy
arrays: a million rows without a million Python tuples.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import psycopg

# The current row `a` of each alert and its latest version `v`, which holds the snapshot's body.
LATEST = "alerts a JOIN alert_versions v ON v.alert_id = a.alert_id AND v.version = a.version"
INCIDENT = """a.opened_at >= %(start)s AND a.opened_at < %(end)s AND a.category = ANY(%(categories)s)
    AND (a.disposition IS NULL OR a.disposition NOT IN ('false_alarm', 'test'))"""
LOCATED = "jsonb_typeof(v.body->'location') = 'object'"
_HEADER = 19  # PGCOPY signature, flags and header extension length


@dataclass(frozen=True)
class Located:
    """Located incidents, one per position: where, when (UTC) and of which category."""

    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    opened_at: npt.NDArray[np.datetime64]
    category: list[str]

    def __len__(self) -> int:
        return len(self.lat)


def _parameters(start: datetime, end: datetime, categories: Sequence[str]) -> dict[str, object]:
    return {"start": start, "end": end, "categories": list(categories)}


async def located(connection: psycopg.AsyncConnection, start: datetime, end: datetime,
                  categories: Sequence[str]) -> Located:
    sql = f"""COPY (SELECT l.lat, l.lon, extract(epoch FROM a.opened_at)::float8,
                           array_position(%(categories)s::text[], a.category)::float8
                    FROM {LATEST}, jsonb_to_record(v.body->'location') AS l(lat float8, lon float8)
                    WHERE {INCIDENT} AND {LOCATED} AND l.lat IS NOT NULL AND l.lon IS NOT NULL)
              TO STDOUT (FORMAT BINARY)"""
    chunks: list[bytes] = []
    async with connection.cursor() as cursor, cursor.copy(sql, _parameters(start, end, categories)) as copy:
        async for chunk in copy:
            chunks.append(bytes(chunk))
    columns = _float_columns(b"".join(chunks), 4)
    micros = (columns[:, 2] * 1e6).round().astype(np.int64)
    names = list(categories)
    return Located(lat=columns[:, 0].copy(), lon=columns[:, 1].copy(),
                   opened_at=micros.astype("datetime64[us]"),
                   category=[names[int(i) - 1] for i in columns[:, 3].tolist()])


def _float_columns(data: bytes, count: int) -> npt.NDArray[np.float64]:
    """Rows of `count` non-null float8 fields from PostgreSQL's binary COPY format."""
    if not data:
        return np.zeros((0, count))
    (extension,) = struct.unpack_from(">I", data, 15)
    body = data[_HEADER + extension: -2]  # the trailer is a field count of -1
    row = np.dtype([("fields", ">i2"), *((f"f{i}", [("length", ">i4"), ("value", ">f8")]) for i in range(count))])
    rows = np.frombuffer(body, dtype=row)
    return np.stack([rows[f"f{i}"]["value"].astype(np.float64) for i in range(count)], axis=1)


async def unlocated(connection: psycopg.AsyncConnection, start: datetime, end: datetime,
                    categories: Sequence[str]) -> int:
    cursor = await connection.execute(
        f"SELECT count(*) FROM {LATEST} WHERE {INCIDENT} AND NOT coalesce({LOCATED}, false)",
        _parameters(start, end, categories))
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def zone_counts(connection: psycopg.AsyncConnection, zones: Sequence[str], start: datetime, middle: datetime,
                      end: datetime, categories: Sequence[str]) -> tuple[int, int, int, int]:
    """Incidents, located or not, by the alert's zone: (treated before, treated after, comparison before, after)."""
    cursor = await connection.execute(
        f"""SELECT count(*) FILTER (WHERE treated AND opened_at < %(middle)s),
                   count(*) FILTER (WHERE treated AND opened_at >= %(middle)s),
                   count(*) FILTER (WHERE NOT treated AND opened_at < %(middle)s),
                   count(*) FILTER (WHERE NOT treated AND opened_at >= %(middle)s)
            FROM (SELECT opened_at, zone_id = ANY(%(zones)s) AS treated FROM alerts a WHERE {INCIDENT}) AS incidents""",
        {**_parameters(start, end, categories), "middle": middle, "zones": list(zones)})
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def weekly(connection: psycopg.AsyncConnection, start: datetime, end: datetime,
                 categories: Sequence[str]) -> list[tuple[datetime, str, int]]:
    """Incidents, located or not, per ISO week (its Monday, UTC) and category."""
    cursor = await connection.execute(
        f"""SELECT date_trunc('week', opened_at AT TIME ZONE 'UTC') AS week, category, count(*)
            FROM alerts a WHERE {INCIDENT} GROUP BY 1, 2 ORDER BY 1, 2""",
        _parameters(start, end, categories))
    return [(row[0], str(row[1]), int(row[2])) for row in await cursor.fetchall()]
