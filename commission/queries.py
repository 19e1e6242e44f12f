"""What the commission's statistics read from the history: each alert's current row (`alerts`) and, for
its location, its latest version's snapshot (`alert_versions`).

An incident (contract section 14) is an alert of the requested categories whose `opened_at` is in
[from, to) and whose latest version's disposition is neither `false_alarm` nor `test`; located
when that version has a `location`. Located incidents come out as one binary value per column, read
straight into numpy arrays.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Located:
    """Located incidents, one per position: where, when (UTC) and of which category."""

    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    opened_at: npt.NDArray[np.datetime64]
    category: list[str]
    unlocated: int = 0  # incidents of the same query without a location

    def __len__(self) -> int:
        return len(self.lat)


def _parameters(start: datetime, end: datetime, categories: Sequence[str]) -> dict[str, object]:
    return {"start": start, "end": end, "categories": list(categories)}


async def located(connection: psycopg.AsyncConnection, start: datetime, end: datetime,
                  categories: Sequence[str]) -> Located:
    """The located incidents, and how many incidents have no location, in one pass over the history."""
    # Each column comes as one bytea of big-endian values: a million rows in four values, not a million tuples.
    sql = f"""SELECT string_agg(float8send(l.lat), ''::bytea) FILTER (WHERE l.lat IS NOT NULL AND l.lon IS NOT NULL),
                     string_agg(float8send(l.lon), ''::bytea) FILTER (WHERE l.lat IS NOT NULL AND l.lon IS NOT NULL),
                     string_agg(int8send((extract(epoch FROM a.opened_at) * 1000000)::int8), ''::bytea)
                         FILTER (WHERE l.lat IS NOT NULL AND l.lon IS NOT NULL),
                     string_agg(int2send(array_position(%(categories)s::text[], a.category)::int2), ''::bytea)
                         FILTER (WHERE l.lat IS NOT NULL AND l.lon IS NOT NULL),
                     count(*) FILTER (WHERE l.lat IS NULL OR l.lon IS NULL)
              FROM {LATEST},
                   jsonb_to_record(CASE WHEN {LOCATED} THEN v.body->'location' END) AS l(lat float8, lon float8)
              WHERE {INCIDENT}"""
    async with connection.cursor(binary=True) as cursor:
        await cursor.execute(sql, _parameters(start, end, categories))
        row = await cursor.fetchone()
    assert row is not None
    lat, lon, micros, codes = (value or b"" for value in row[:4])
    names = list(categories)
    return Located(lat=np.frombuffer(lat, dtype=">f8").astype(np.float64),
                   lon=np.frombuffer(lon, dtype=">f8").astype(np.float64),
                   opened_at=np.frombuffer(micros, dtype=">i8").astype(np.int64).astype("datetime64[us]"),
                   category=[names[code - 1] for code in np.frombuffer(codes, dtype=">i2").tolist()],
                   unlocated=int(row[4]))


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
