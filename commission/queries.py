"""What the commission's statistics read from the history: each alert's current row (`alerts`), which
holds its latest version's location (`lat`, `lon`).

An incident (contract section 14) is an alert of the requested categories whose `opened_at` is in
[from, to) and whose latest version's disposition is neither `false_alarm` nor `test`; located
when that version has a `location`. Located incidents come out as one binary value per column, read
straight into numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

INCIDENT = """a.opened_at >= %(start)s AND a.opened_at < %(end)s AND a.category = ANY(%(categories)s)
    AND (a.disposition IS NULL OR a.disposition NOT IN ('false_alarm', 'test'))"""
LOCATED = "a.lat IS NOT NULL AND a.lon IS NOT NULL"
# Each column comes as one bytea of big-endian values: a million rows in a few values, not a million tuples.
POINTS = f"""string_agg(float8send(a.lat), ''::bytea) FILTER (WHERE {LOCATED}),
             string_agg(float8send(a.lon), ''::bytea) FILTER (WHERE {LOCATED}),
             count(*) FILTER (WHERE NOT ({LOCATED}))"""
# timestamptz's binary form is microseconds from 2000-01-01 UTC
WHEN_AND_WHAT = f"""string_agg(timestamptz_send(a.opened_at), ''::bytea) FILTER (WHERE {LOCATED}),
                    string_agg(int2send(array_position(%(categories)s::text[], a.category)::int2), ''::bytea)
                        FILTER (WHERE {LOCATED})"""
PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


@dataclass(frozen=True)
class Points:
    """Located incidents, one per position, and how many incidents of the same query have no location."""

    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    unlocated: int

    def __len__(self) -> int:
        return len(self.lat)


@dataclass(frozen=True)
class Located(Points):
    """Located incidents with when (UTC) and of which category each was."""

    opened_at: npt.NDArray[np.datetime64]
    category: list[str]


def _parameters(start: datetime, end: datetime, categories: Sequence[str]) -> dict[str, object]:
    return {"start": start, "end": end, "categories": list(categories)}


def _floats(value: bytes | None) -> npt.NDArray[np.float64]:
    return np.frombuffer(value or b"", dtype=">f8").astype(np.float64)


def _times(value: bytes | None) -> npt.NDArray[np.datetime64]:
    return PG_EPOCH + np.frombuffer(value or b"", dtype=">i8").astype(np.int64)


async def _aggregate(connection: psycopg.AsyncConnection, columns: str, start: datetime, end: datetime,
                     categories: Sequence[str]) -> tuple[Any, ...]:
    async with connection.cursor(binary=True) as cursor:
        await cursor.execute(f"SELECT {columns} FROM alerts a WHERE {INCIDENT}", _parameters(start, end, categories))
        row = await cursor.fetchone()
    assert row is not None
    return tuple(row)


async def points(connection: psycopg.AsyncConnection, start: datetime, end: datetime,
                 categories: Sequence[str]) -> Points:
    """Where the located incidents are, and how many incidents have no location, in one pass over `alerts`."""
    lat, lon, unlocated = await _aggregate(connection, POINTS, start, end, categories)
    return Points(lat=_floats(lat), lon=_floats(lon), unlocated=int(unlocated))


async def located(connection: psycopg.AsyncConnection, start: datetime, end: datetime,
                  categories: Sequence[str]) -> Located:
    """The located incidents with their times and categories, and how many incidents have no location."""
    lat, lon, unlocated, micros, codes = await _aggregate(connection, f"{POINTS}, {WHEN_AND_WHAT}", start, end,
                                                          categories)
    names = list(categories)
    return Located(lat=_floats(lat), lon=_floats(lon), unlocated=int(unlocated),
                   opened_at=_times(micros),
                   category=[names[code - 1] for code in np.frombuffer(codes or b"", dtype=">i2").tolist()])


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
